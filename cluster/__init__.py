"""The NATS JetStream deployment: edge collectors with an outbox, partition leases, worker and archiver loops,
state checkpoints. It moves sessions between machines; it computes nothing (ARCHITECTURE.md, "Scale-out")."""
