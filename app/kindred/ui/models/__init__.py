"""Base models and assistants: adding and removing a model, creating and editing an assistant."""
