"""Metrics, health endpoints and logging of a broker process."""
