"""Sans-IO core of the Flue runs / Durable Streams read protocol (no sockets, no sleeping)."""
