"""One redaction for everything vecq prints: URL passwords, signed URLs, keys and tokens."""

from __future__ import annotations

import pytest

from vecq.shared.redaction import has_secret, redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://user:hunter2@h:6379/0", "redis://user:***@h:6379/0"),
        ("redis://:p@ss@w0rd@h:6379/0", "redis://:***@h:6379/0"),  # '@' in the password
        ("rediss://:pw@h/0?ssl_cert_reqs=required", "rediss://:***@h/0?ssl_cert_reqs=required"),
        ("redis://h:6379/0?password=hunter2&db=1", "redis://h:6379/0?password=***&db=1"),
        (
            "postgresql://etl@db/shop?sslmode=require&password=x%40y",
            "postgresql://etl@db/shop?sslmode=require&password=***",
        ),
        (
            "https://b.s3.amazonaws.com/k.parquet?X-Amz-Credential=AK%2F1&X-Amz-Signature=ab12",
            "https://b.s3.amazonaws.com/k.parquet?X-Amz-Credential=***&X-Amz-Signature=***",
        ),
        (
            "https://acct.blob.core.windows.net/c/f.jsonl?sv=2022-11-02&se=2026&sp=r&sig=Zm9v%3D",
            "https://acct.blob.core.windows.net/c/f.jsonl?sv=2022-11-02&se=2026&sp=r&sig=***",
        ),
        (
            "sentinel://:pw@s1:26379;sentinel://u:pw2@s2:26379/0?master_name=m",
            "sentinel://:***@s1:26379;sentinel://u:***@s2:26379/0?master_name=m",
        ),
        (
            "failed: redis://u:a@h/0 and postgresql://v:b@db/x; api-key: qk-1 Bearer tok.2",
            "failed: redis://u:***@h/0 and postgresql://v:***@db/x; api-key: *** Bearer ***",
        ),
        ("s3://bucket/prefix/ and /data/x.npy", "s3://bucket/prefix/ and /data/x.npy"),
        ("postgresql://etl@db/shop", "postgresql://etl@db/shop"),
    ],
)
def test_every_secret_is_hidden_and_nothing_else_changes(text: str, shown: str) -> None:
    """Passwords (with '@' in them too), secret query parameters and tokens become ***."""
    assert redact(text) == shown
    assert has_secret(text) == (text != shown)
