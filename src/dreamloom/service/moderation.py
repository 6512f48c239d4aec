"""Prompt moderation at submission and the strike policy that times accounts out.

A flagged prompt does not run: it becomes a job that ends ``moderated`` at once (so every
client sees the same outcome, as for an image blocked by the output filter) and counts as a
strike. Strikes are the account's moderated jobs: the policy counts those inside its window,
so prompts and images blocked by the output filter count alike. Enough of them time the
account out (HTTP 596 on every submission until the timeout ends); very many block it until
an operator lifts it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dreamloom.config import Settings
from dreamloom.prompt import Prompt
from dreamloom.safety import PromptModerator, StrikePolicy, Verdict
from dreamloom.service.accounts import Accounts
from dreamloom.service.views import AccountView
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import jobs_repo

# "Blocked until an operator lifts it": a timeout that never runs out by itself.
BLOCKED_FOR = timedelta(days=365 * 100)


class Moderation:
    def __init__(self, settings: Settings, accounts: Accounts) -> None:
        self._accounts = accounts
        terms = settings.moderation_terms_file
        extra = settings.moderation_extra_terms
        allowed = settings.moderation_allowed_terms
        self._prompt_moderator = (
            PromptModerator.from_file(terms, extra_terms=extra, allowed_terms=allowed)
            if terms is not None
            else PromptModerator(extra_terms=extra, allowed_terms=allowed)
        )
        self.strike_policy = StrikePolicy()

    def check_prompt(self, prompt: Prompt) -> Verdict:
        """Moderate the text that conditions the model towards something: the positive
        ``::`` parts (``--no`` terms and negative parts ask for the picture without them)."""
        text = " ".join(part.text for part in prompt.positive_parts)
        return self._prompt_moderator.check(text)

    def record_strike(self, session: Session, account: AccountView, now: datetime) -> None:
        """Count the moderated job just written as a strike; time out or block as due."""
        since = now - self.strike_policy.window
        recent = jobs_repo.moderated_since(session, account.id, since)
        row = accounts_repo.record_strike(session, account.id)
        until = self.strike_policy.next_timeout(recent, now)
        if self.strike_policy.is_blocked(row.moderation_strikes):
            until = now + BLOCKED_FOR
        if until is not None and (row.timeout_until is None or row.timeout_until < until):
            row.timeout_until = until
        self._accounts.forget(account.id)
