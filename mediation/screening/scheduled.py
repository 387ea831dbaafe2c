"""The screening package's scheduled jobs: reminders for cells not screened, and their 督办."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.clock import BUSINESS_TZ
from mediation.reminders import service as reminders
from mediation.reminders.kinds import TITLES, Recipient
from mediation.reminders.models import Reminder
from mediation.screening.campaigns import business_today, campaign_window, due_at
from mediation.screening.models import (
    ScreeningCampaign,
)


def supervise_screening(db_session: Session, rows: list[Reminder], now: datetime) -> int:
    """A cell still not screened after the delay: 督办 to its village head and township centre."""
    made = 0
    for r in rows:
        if r.kind != "screening_due":
            continue
        cell = r.area_code
        body = {
            "cell_code": cell,
            "campaign_id": (r.body or {}).get("campaign_id"),
            "campaign_title": (r.body or {}).get("campaign_title"),
        }
        for suffix, who in (
            ("", Recipient(role="village_admin", area=cell[:12])),
            (":township", Recipient(role="center_staff", area=cell[:9])),
        ):
            reminders.raise_supervision(db_session, r, who=who, now=now, body=body, suffix=suffix)
            made += 1
    return made


def late_cell_reminders(
    db_session: Session,
    *,
    now: datetime,
    lead: timedelta = timedelta(days=3),
    horizon: timedelta = timedelta(days=31),
) -> int:
    """For every campaign due within `lead` (or overdue less than `horizon` ago), a reminder to
    the grid worker of each of its cells without a round yet (the village head when the cell has
    no worker), due at the end of the due date; supervision follows through the supervise job.
    Idempotent by key; commits per campaign. Returns how many reminders were created."""
    today = business_today(now)
    campaigns = db_session.scalars(
        select(ScreeningCampaign)
        .where(
            ScreeningCampaign.due_on <= (now + lead).astimezone(BUSINESS_TZ).date(),
            ScreeningCampaign.due_on >= (now - horizon).astimezone(BUSINESS_TZ).date(),
        )
        .order_by(ScreeningCampaign.id)
    ).all()
    made = 0
    for c in campaigns:
        start, end = campaign_window(c)
        due = due_at(c)
        made += len(
            db_session.execute(
                text(
                    """
                    INSERT INTO reminder (key, kind, area_code, recipient_id, recipient_role,
                        recipient_area, due_at, remind_at, state, title, body, created_at)
                    SELECT 'screening:' || CAST(:cid AS text) || ':' || g.code, 'screening_due', g.code,
                           w.user_id,
                           CASE WHEN w.user_id IS NULL THEN 'village_admin' END,
                           CASE WHEN w.user_id IS NULL THEN g.village_code END,
                           :due, :remind, 'pending', :title,
                           jsonb_build_object('campaign_id', CAST(:cid AS text),
                                              'campaign_title', CAST(:ctitle AS text),
                                              'cell_code', g.code,
                                              'due_on', CAST(:due_on AS text)),
                           :now
                    FROM grid_cell g
                    LEFT JOIN LATERAL (
                        SELECT ca.user_id FROM cell_assignment ca
                        WHERE ca.cell_code = g.code AND ca.valid_from <= :today
                          AND (ca.valid_to IS NULL OR ca.valid_to > :today)
                        ORDER BY ca.valid_from DESC LIMIT 1) w ON true
                    WHERE g.valid_to IS NULL AND g.code LIKE :prefix
                      AND NOT EXISTS (
                          SELECT 1 FROM screening_round r WHERE r.cell_code = g.code
                          AND r.screened_at >= :start AND r.screened_at < :end)
                    ON CONFLICT (key) WHERE dispute_id IS NULL DO NOTHING
                    RETURNING id
                    """
                ),
                {
                    "cid": str(c.id),
                    "ctitle": c.title,
                    "due": due,
                    "due_on": c.due_on.isoformat(),
                    "remind": due - lead,
                    "title": TITLES["screening_due"],
                    "now": now,
                    "today": today,
                    "prefix": f"{c.area_code}%",
                    "start": start,
                    "end": end,
                },
            ).all()
        )
        db_session.commit()
    return made
