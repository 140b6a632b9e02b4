"""The vendor API client: no Flask, no Excel."""
