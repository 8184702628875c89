"""Built-in weather variables, registered through the same hook a partner package uses."""
