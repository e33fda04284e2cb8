"""Module boundaries, enforced by the build.

Every check reads the declarations in ``monolith.platform.registry`` and reports
``Violation`` rows; the baseline (``boundaries-todo.json``) lets a legacy project start green
and ratchets: new violations fail, fixed ones must leave the file.
"""
