"""Vigie runtime: the only code that talks to Kafka, gRPC and HTTP."""
