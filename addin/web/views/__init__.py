"""The backend's blueprints, one module per feature; ``create_app`` registers them."""
