"""Messages to people: an outbox written with the change it announces, delivered by jobs after commit."""
