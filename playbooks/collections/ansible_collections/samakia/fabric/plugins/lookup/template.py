# Copyright: Samakia Fabric
# Apache-2.0
"""samakia.fabric.template: ansible.builtin.template's lookup, without a deep copy of every variable."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: template
short_description: Render templates as ansible.builtin.template's lookup does, at a fraction of the cost
description:
  - The same lookup as C(ansible.builtin.template), with the same options and the same result.
  - Upstream deep-copies the whole set of task variables for every template it renders
    (C(ansible/plugins/lookup/template.py) in ansible-core 2.19, marked there with a FIXME). With
    the roles' defaults in scope that copy is most of a policy run's controller time (about 0.2 s
    per template on these machines). This lookup hands upstream a view whose deep copy is a
    shallow one, as upstream's own template action copies its variables
    (C(task_vars.copy()) in C(ansible/plugins/action/template.py)). Rendering never mutates the
    variables, so the copy only has to isolate the few keys the lookup adds.
author:
  - Samakia Fabric
options:
  _terms:
    description: The template files to render, looked up in the role's C(templates/).
  template_vars:
    description: Extra variables the templates see.
    type: dict
    default: {}
  variable_start_string:
    description: What opens an expression.
    type: str
    default: "{{"
  variable_end_string:
    description: What closes an expression.
    type: str
    default: "}}"
  comment_start_string:
    description: What opens a comment.
    type: str
    default: "{#"
  comment_end_string:
    description: What closes a comment.
    type: str
    default: "#}"
  trim_blocks:
    description: Remove the first newline after a block tag.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Write a rendered file
  samakia.fabric.files:
    files:
      - path: /etc/example.conf
        content: "{{ lookup('samakia.fabric.template', 'example.conf.j2') }}"
"""

RETURN = r"""
_raw:
  description: The rendered text of each template, in order.
  type: list
  elements: raw
"""

from collections.abc import Iterator, Mapping
from typing import Any

from ansible.plugins.lookup.template import LookupModule as UpstreamTemplateLookup


class _ShallowCopyingVariables(Mapping[str, Any]):
    """The task variables, read through; ``copy.deepcopy`` of it is a shallow copy."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self._variables = variables

    def __getitem__(self, key: str) -> Any:
        return self._variables[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables)

    def __len__(self) -> int:
        return len(self._variables)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        # dict() of the plain dict or ChainMap the templar holds: values are shared, not rendered.
        return dict(self._variables)


class LookupModule(UpstreamTemplateLookup):
    """Upstream's template lookup, given variables that are cheap to copy."""

    def run(self, terms: list[Any], variables: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        return super().run(terms, _ShallowCopyingVariables(variables or {}), **kwargs)
