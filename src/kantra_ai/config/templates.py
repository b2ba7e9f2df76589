"""The user's prompt templates named by the `prompts` section, compiled and checked when loaded."""

from __future__ import annotations

from kantra_ai.config.settings import LanguageTemplate, PromptSettings
from kantra_ai.prompts.custom import (
    CustomTemplates,
    LanguagePair,
    RuleTemplateRef,
    compile_template,
)


def _pair(key: str, setting: LanguageTemplate | PromptSettings) -> LanguagePair:
    single = setting.single_fix_template
    batch = setting.batch_fix_template
    compiled_batch = compile_template(f"{key}batch-fix-template", batch) if batch else None
    if single is not None and single == batch:
        return LanguagePair(compiled_batch, compiled_batch)
    compiled_single = compile_template(f"{key}single-fix-template", single) if single else None
    return LanguagePair(compiled_single, compiled_batch)


def load_custom_templates(settings: PromptSettings) -> CustomTemplates:
    """Every template the `prompts` settings name, compiled and checked; TemplateError otherwise."""
    return CustomTemplates(
        generic=_pair("prompts.", settings),
        languages={
            name: _pair(f"prompts.language-templates.{name}.", setting)
            for name, setting in settings.language_templates.items()
        },
        rules=tuple(
            RuleTemplateRef(
                rule.match, compile_template(f"prompts.rule-templates[{n}].template", rule.template)
            )
            for n, rule in enumerate(settings.rule_templates)
        ),
    )
