"""Embedded services, process-wide resources, and the supervisor behind `bippop run`."""
