"""Extraction: one fleet module as a deployable of its own (the strangler fig's first step).

``python manage.py strangler extract <module>`` writes ``extracted/<module>/`` from what the
registry declares: settings (a shim over ``monolith.settings.service``), a gunicorn entry
point, a Dockerfile and a kustomize base. The service runs the module's package unchanged;
see docs/extraction.md.
"""
