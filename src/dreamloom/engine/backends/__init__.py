"""Backends turn a Recipe into images; `base` fixes the contract every backend meets."""
