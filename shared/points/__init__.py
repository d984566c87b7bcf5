"""A call's data: ids, vectors (dense, sparse, named, multi), metadata, their validation, the
column bundle a validated call becomes, and which shard each point belongs to."""
