"""A local job's settings: defaults, and cleaning of form values, CLI strings and stored dicts."""

from __future__ import annotations

import pytest

from training.hyperparameters import (
    LocalSettingError,
    clean_local_hyperparameters,
    local_defaults,
)


def test_defaults_and_cleaning() -> None:
    defaults = local_defaults()
    assert defaults["lora_rank"] == 16 and defaults["learning_rate"] == 2e-4
    assert clean_local_hyperparameters({}) == defaults
    cleaned = clean_local_hyperparameters(
        {
            "lora_rank": "8",
            "packing": "off",
            "bf16": "false",
            "lora_target_modules": " q_proj , v_proj ",
            "max_steps": "0",
        }
    )
    assert cleaned["lora_rank"] == 8 and cleaned["packing"] is False
    assert cleaned["bf16"] is False and cleaned["max_steps"] is None
    assert cleaned["lora_target_modules"] == "q_proj,v_proj"
    with pytest.raises(LocalSettingError) as caught:
        clean_local_hyperparameters({"lora_dropout": 1.5})
    assert caught.value.field == "lora_dropout"
    with pytest.raises(LocalSettingError, match="module names"):
        clean_local_hyperparameters({"lora_target_modules": "q_proj; drop table"})
