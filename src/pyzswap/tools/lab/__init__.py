"""The design lab: experiments that answer the design questions with measurements."""
