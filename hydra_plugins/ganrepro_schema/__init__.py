"""Registers ganrepro's typed config schema with Hydra when DVC composes conf/.

DVC puts the repository root on sys.path and scans the `hydra_plugins` namespace
package before composing; importing this module stores the schema, which
conf/config.yaml names first in its defaults list.
"""

from stages.core.schema import register_schema

register_schema()
