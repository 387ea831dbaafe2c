"""Deployment: gunicorn settings and its worker class (slow clients), example units."""
