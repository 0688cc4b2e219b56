from typing import get_args

from unifyops.platform.environment.environment_service.schemas import StackName, TierName
from unifyops_core.naming import STACKS, TIER_PORTS

# mypy accepts only literal values in a Literal, so these two are typed out and kept equal here.
EDIT = "edit {} in environment_service/schemas.py to match unifyops_core/stack_registry.py"


def test_stack_names_are_the_registry_s() -> None:
    assert get_args(StackName) == tuple(STACKS), EDIT.format("StackName")


def test_tier_names_are_the_registry_s_tiers() -> None:
    assert get_args(TierName) == tuple(TIER_PORTS), EDIT.format("TierName")
