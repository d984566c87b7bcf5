"""The contract both sides share: settings, errors, validation, sharding, codec, keys, registry."""
