"""Taggers that find mentions in listing text: rules now, neural models next."""
