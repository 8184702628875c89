"""Built-in catalogue of high-impact events, registered like a partner's."""
