"""The check engine: normalisation, planning, the store and the job runner. No Flask, no Excel."""
