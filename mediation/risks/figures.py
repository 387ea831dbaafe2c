"""The risk figures of the monthly report and the dashboard (issue 21), defined once.

Per village (summed for the township): signals found and closed per key area. Per township
(live, the register is the township's): 稳评 items registered, assessed (by rating), decided,
disputes linked, and the progress of each 专项行动 (a special screening campaign) overlapping
the period. Every count is over one period [start, end) in Asia/Shanghai; the report calls
`village_blocks` for its draft snapshots and `township_block` for its total.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from mediation.risks.enums import KEY_AREAS, RATINGS

SIGNAL_KEYS = (
    "signals_found",
    "signals_closed",
    "signals_converted",
    "signals_attached",
    "signals_open_end",
)

DEFINITIONS = {
    "signals_found": {
        "label": "发现风险隐患",
        "definition": "发现时间在本期内的风险隐患（非矛盾纠纷）",
    },
    "signals_closed": {
        "label": "办结风险隐患",
        "definition": "本期内办结的隐患：已消除、已转为矛盾纠纷或已纳入稳评事项（按办结时间）",
    },
    "signals_converted": {
        "label": "其中：转为矛盾纠纷",
        "definition": "本期办结中转为矛盾纠纷登记的",
    },
    "signals_attached": {
        "label": "其中：纳入稳评事项",
        "definition": "本期办结中纳入稳评事项跟踪的",
    },
    "signals_open_end": {"label": "期末在跟进隐患", "definition": "期末前发现、期末仍未办结的隐患"},
    "items_registered": {"label": "新登记稳评事项", "definition": "登记时间在本期内的稳评事项"},
    "items_assessed": {
        "label": "开展稳评",
        "definition": "本期内完成（或重新完成）风险评估的稳评事项，按最近一次评估时间",
    },
    "items_decided": {"label": "作出决策", "definition": "本期内记录决策的稳评事项"},
    "disputes_linked": {
        "label": "稳评事项关联矛盾纠纷",
        "definition": "本期内确认与稳评事项关联的矛盾纠纷（事项引发的纠纷）",
    },
    "special_actions": {
        "label": "专项行动开展情况",
        "definition": "与本期有重叠的专项排查：网格数、已排查网格（窗口内有排查记录）、"
        "覆盖率、窗口内该专项重点领域发现的隐患数",
    },
}


def empty_signals() -> dict:
    """Signal figures of an area with none."""
    return {**{k: 0 for k in SIGNAL_KEYS}, "found_by_key_area": {}, "closed_by_key_area": {}}


def _signals_sql(group: str) -> str:
    return f"""
SELECT {group} AS code, s.key_area,
       count(*) FILTER (WHERE s.observed_at >= :start AND s.observed_at < :end) AS found,
       count(*) FILTER (WHERE s.closed_at >= :start AND s.closed_at < :end) AS closed,
       count(*) FILTER (WHERE s.closed_at >= :start AND s.closed_at < :end
                        AND s.status = 'converted') AS converted,
       count(*) FILTER (WHERE s.closed_at >= :start AND s.closed_at < :end
                        AND s.status = 'attached') AS attached,
       count(*) FILTER (WHERE s.observed_at < :end
                        AND (s.closed_at IS NULL OR s.closed_at >= :end)) AS open_end
FROM risk_signal s
WHERE s.cell_code LIKE :prefix
  AND (s.observed_at < :end AND (s.closed_at IS NULL OR s.closed_at >= :start))
GROUP BY 1, 2"""


def _signal_blocks(db_session: Session, *, prefix: str, group: str, start, end) -> dict:
    out: dict[str, dict] = {}
    for r in db_session.execute(
        text(_signals_sql(group)), {"prefix": f"{prefix}%", "start": start, "end": end}
    ).mappings():
        b = out.setdefault(r["code"], empty_signals())
        for key, col in zip(
            SIGNAL_KEYS, ("found", "closed", "converted", "attached", "open_end"), strict=True
        ):
            b[key] += r[col]
        for name, col in (("found_by_key_area", "found"), ("closed_by_key_area", "closed")):
            if r[col]:
                b[name][r["key_area"]] = b[name].get(r["key_area"], 0) + r[col]
    return out


def village_blocks(db_session: Session, *, township: str, period) -> dict[str, dict]:
    """Signal figures per village of a township (for the villages' report snapshots)."""
    return _signal_blocks(
        db_session,
        prefix=township,
        group="s.village_code",
        start=period.start_at,
        end=period.end_at,
    )


def add_signals(blocks) -> dict:
    """Sum signal figures (villages → township)."""
    total = empty_signals()
    for b in blocks:
        b = b or empty_signals()
        for k in SIGNAL_KEYS:
            total[k] += b.get(k, 0)
        for name in ("found_by_key_area", "closed_by_key_area"):
            for k, n in b.get(name, {}).items():
                total[name][k] = total[name].get(k, 0) + n
    for name in ("found_by_key_area", "closed_by_key_area"):
        total[name] = {k: total[name][k] for k in KEY_AREAS if k in total[name]}
    return total


def register_figures(db_session: Session, *, area: str, start, end) -> dict:
    """稳评 figures of the items of an area (township or county) in [start, end)."""
    params = {"prefix": f"{area[:9]}%", "start": start, "end": end}
    r = (
        db_session.execute(
            text("""
SELECT count(*) FILTER (WHERE created_at >= :start AND created_at < :end) AS registered,
       count(*) FILTER (WHERE assessed_at >= :start AND assessed_at < :end) AS assessed,
       count(*) FILTER (WHERE assessed_at >= :start AND assessed_at < :end
                        AND rating = 'high') AS high,
       count(*) FILTER (WHERE assessed_at >= :start AND assessed_at < :end
                        AND rating = 'medium') AS medium,
       count(*) FILTER (WHERE assessed_at >= :start AND assessed_at < :end
                        AND rating = 'low') AS low,
       count(*) FILTER (WHERE decided_at >= :start AND decided_at < :end) AS decided
FROM stability_item WHERE township_code LIKE :prefix"""),
            params,
        )
        .mappings()
        .one()
    )
    linked = db_session.scalar(
        text("""SELECT count(*) FROM stability_link l JOIN stability_item i ON i.id = l.item_id
                WHERE i.township_code LIKE :prefix AND l.linked_at >= :start
                  AND l.linked_at < :end"""),
        params,
    )
    return {
        "items_registered": r["registered"],
        "items_assessed": r["assessed"],
        "items_assessed_by_rating": {k: r[k] for k in RATINGS},
        "items_decided": r["decided"],
        "disputes_linked": linked,
    }


def special_actions(db_session: Session, *, area: str, period) -> list[dict]:
    """Progress of every 专项行动 (special screening campaign) over or inside the area that
    overlaps the period, counted within the area."""
    rows = db_session.execute(
        text("""
WITH c AS (
  SELECT c.*, (c.starts_on::timestamp AT TIME ZONE 'Asia/Shanghai') AS w_start,
         ((c.ends_on + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') AS w_end,
         CASE WHEN length(c.area_code) >= length(:area) THEN c.area_code ELSE :area END AS within
  FROM screening_campaign c
  WHERE c.kind = 'special' AND (c.area_code LIKE :area || '%' OR :area LIKE c.area_code || '%')
    AND c.starts_on < :end_day AND c.ends_on >= :start_day)
SELECT c.id, c.title, c.starts_on, c.ends_on, c.due_on, c.key_areas,
  (SELECT count(*) FROM grid_cell g WHERE g.valid_to IS NULL AND g.code LIKE c.within || '%')
      AS cells_total,
  (SELECT count(DISTINCT r.cell_code) FROM screening_round r
    WHERE r.cell_code LIKE c.within || '%' AND r.screened_at >= c.w_start
      AND r.screened_at < c.w_end) AS cells_screened,
  (SELECT count(*) FROM risk_signal s WHERE s.cell_code LIKE c.within || '%'
      AND s.observed_at >= c.w_start AND s.observed_at < c.w_end
      AND (cardinality(c.key_areas) = 0 OR s.key_area = ANY(c.key_areas))) AS signals_found
FROM c ORDER BY c.starts_on, c.id"""),
        {"area": area, "start_day": period.start, "end_day": period.end},
    ).mappings()
    return [
        {
            "campaign_id": r["id"],
            "title": r["title"],
            "starts_on": r["starts_on"].isoformat(),
            "ends_on": r["ends_on"].isoformat(),
            "due_on": r["due_on"].isoformat(),
            "key_areas": list(r["key_areas"] or []),
            "cells_total": r["cells_total"],
            "cells_screened": r["cells_screened"],
            "coverage": round(r["cells_screened"] / r["cells_total"], 4)
            if r["cells_total"]
            else None,
            "signals_found": r["signals_found"],
        }
        for r in rows
    ]


def township_block(db_session: Session, *, township: str, period, village_signals) -> dict:
    """The township total: the villages' signal figures summed, the register and 专项行动."""
    return {
        **add_signals(village_signals),
        **register_figures(db_session, area=township, start=period.start_at, end=period.end_at),
        "special_actions": special_actions(db_session, area=township, period=period),
        "definitions": DEFINITIONS,
    }


def area_figures(db_session: Session, *, area: str, period) -> dict:
    """The dashboard's block for any area (county, township, village, cell)."""
    signals = _signal_blocks(
        db_session, prefix=area, group="'all'", start=period.start_at, end=period.end_at
    )
    block = add_signals(signals.values())  # one group: the whole area
    if len(area) <= 9:
        block.update(
            register_figures(db_session, area=area, start=period.start_at, end=period.end_at)
        )
    block["special_actions"] = special_actions(db_session, area=area, period=period)
    block["definitions"] = DEFINITIONS
    return block


def add_to_snapshots(db_session: Session, snapshots: dict, *, township: str, period) -> None:
    """Put each village's signal figures into its report snapshot (key `risks`)."""
    blocks = village_blocks(db_session, township=township, period=period)
    for code, figures in snapshots.items():
        figures["risks"] = blocks.get(code, empty_signals())


def township_total(db_session: Session, township: str, period, villages: list[dict]) -> dict:
    """The township total's risk block from its villages' figures (submitted snapshots made
    before issue 21 carry none: zero) and the township's own register and 专项行动."""
    return township_block(
        db_session,
        township=township,
        period=period,
        village_signals=[v["figures"].get("risks") for v in villages],
    )
