"""Registers ganrepro's typed config schema with Hydra when DVC composes conf/.

DVC puts the repository root on sys.path and scans the `hydra_plugins` namespace
package before composing; importing this module stores the schema, which
conf/config.yaml names first in its defaults list. It also drops DVC's "No file hash
info found" lines for outputs no commit has produced yet (stages.core.dvc_logging).
"""

from stages.core.dvc_logging import quiet_never_run_outputs
from stages.core.schema import register_schema

register_schema()
quiet_never_run_outputs()
