"""Charts drawn on the server as inline SVG (no chart library, nothing from outside).

Colours and sizes are SVG attributes, never style attributes: the CSP allows no inline style.
Every chart has a <title> and a text alternative (the pages also show the figures as a table).
"""
from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

ACCENT = "#1f5fa8"
DANGER = "#b42318"
MUTED = "#5f6b7a"
LINE = "#d9dee5"
VERDICT_COLOURS = {"valid": "#1d6b34", "voluntary": "#a15c00", "invalid": DANGER}


def _svg(width: int, height: int, title: str, body: list[str], cls: str = "chart") -> Markup:
    t = escape(title)
    return Markup(f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{t}" '
                  f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif"><title>{t}</title>'
                  + "".join(body) + "</svg>")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5):
        for power in range(0, 10):
            top = step * 10 ** power
            if top >= value:
                return top
    return value


def bar_chart(points: list[tuple[str, float]], *, title: str, unit: str = "件", percent: bool = False,
              colour: str = ACCENT, width: int = 620, height: int = 220) -> Markup:
    """Vertical bars with their value above and their label below."""
    left, right, top, bottom = 48, 10, 18, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _, v in points), default=0)
    top_value = 1.0 if percent and peak <= 1 else max(_nice_max(peak), 5)
    ticks = 4 if percent else 5  # 1, 2, 5 × 10ⁿ (at least 5) split in five: whole numbers
    body = []
    for i in range(ticks + 1):  # grid lines and the axis labels
        v = top_value * i / ticks
        y = top + plot_h - plot_h * i / ticks
        label = f"{v * 100:.0f}%" if percent else f"{v:,.0f}"
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{LINE}"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{MUTED}">{label}</text>')
    n = max(len(points), 1)
    slot = plot_w / n
    bar = min(slot * 0.7, 48)
    for i, (label, value) in enumerate(points):
        h = plot_h * (value / top_value) if top_value else 0
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h - h
        shown = f"{value * 100:.1f}%" if percent else f"{value:,.0f}"
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(h, 0):.1f}" fill="{colour}">'
                    f'<title>{escape(label)}: {shown}{"" if percent else escape(unit)}</title></rect>')
        body.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11" '
                    f'fill="#1f2933">{shown}</text>')
        body.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" '
                    f'fill="{MUTED}">{escape(label)}</text>')
    if not points:
        body.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}">データがありません</text>')
    return _svg(width, height, title, body)


def _heat(rate: float) -> str:
    """White → accent blue; dark cells get white text (contrast)."""
    r0, g0, b0 = 0xf5, 0xf7, 0xfa
    r1, g1, b1 = 0x1f, 0x5f, 0xa8
    mix = lambda a, b: int(a + (b - a) * rate)  # noqa: E731
    return f"#{mix(r0, r1):02x}{mix(g0, g1):02x}{mix(b0, b1):02x}"


def coverage_grid(cohorts: list[int], groups: list[str], residents: dict[int, int],
                  covered: dict[tuple[int, str], int], *, title: str) -> Markup:
    """Rows: 年度 of birth; columns: vaccines; each cell the share of residents with a record."""
    left, top, cell_w, cell_h = 130, 30, 78, 28
    width, height = left + cell_w * len(groups) + 8, top + cell_h * len(cohorts) + 8
    body = []
    for j, g in enumerate(groups):
        body.append(f'<text x="{left + cell_w * j + cell_w / 2:.0f}" y="{top - 10}" text-anchor="middle" '
                    f'font-size="11" fill="#1f2933">{escape(g)}</text>')
    for i, y in enumerate(cohorts):
        n = residents.get(y, 0)
        ty = top + cell_h * i
        body.append(f'<text x="{left - 8}" y="{ty + 18}" text-anchor="end" font-size="12" fill="#1f2933">'
                    f'{y}年度生（{n:,}人）</text>')
        for j, g in enumerate(groups):
            k = covered.get((y, g), 0)
            rate = k / n if n else 0
            x = left + cell_w * j
            ink = "#ffffff" if rate > 0.55 else "#1f2933"
            label = f"{rate * 100:.0f}%" if n else "—"
            body.append(f'<rect x="{x}" y="{ty}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{_heat(rate)}" '
                        f'stroke="{LINE}"><title>{y}年度生 {escape(g)}: {k:,} / {n:,}人</title></rect>'
                        f'<text x="{x + cell_w / 2 - 1:.0f}" y="{ty + 18}" text-anchor="middle" font-size="12" '
                        f'fill="{ink}">{label}</text>')
    return _svg(width, height, title, body, cls="chart grid-chart")


def _x(d: date, start: date, end: date, left: float, width: float) -> float:
    span = max((end - start).days, 1)
    return left + width * min(max((d - start).days, 0), span) / span


def _birthday(birth: date, age: int) -> date:
    try:
        return birth.replace(year=birth.year + age)
    except ValueError:  # born on 29 February
        return date(birth.year + age, 3, 1)


def _age_on(birth: date, d: date) -> int:
    return max(0, d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day)))


def timeline(*, birth: date, as_of: date, rows: list[dict], title: str) -> Markup:
    """One row per vaccine: the legal window (light), the standard window (darker), each dose (a dot
    coloured by the engine's verdict) and a line for today. The x axis is the age in years.

    rows: {"label", "earliest", "standard_from", "standard_until", "legal_until", "doses": [(date, status)]}
    """
    left, right, top, row_h = 150, 16, 26, 26
    width = 900
    plot_w = width - left - right
    shown = [as_of]
    for r in rows:
        shown += [d for d in (r.get("legal_until"), r.get("earliest")) if d] + [d for d, _ in r["doses"]]
    end = max(birth, *shown)
    # Whole years of age on the axis, up to the last date shown (at least 6 years). Past childhood the axis
    # starts at the first window or dose shown (in steps of 5 years), not at birth: a 73-year-old's
    # 高齢者インフルエンザ would otherwise be a sliver at the right edge of a 75-year axis.
    years = max(6, end.year - birth.year + 1)
    first_age = _age_on(birth, min(shown)) if years > 12 else 0
    start_age = min(first_age // 5 * 5, years - 6)
    start = _birthday(birth, start_age)
    end = _birthday(birth, years)
    span = years - start_age
    height = top + row_h * max(len(rows), 1) + 30
    body = []
    step = 1 if span <= 12 else (5 if span <= 60 else 10)
    for age in range(start_age, years + 1, step):
        x = _x(_birthday(birth, age), start, end, left, plot_w)
        body.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 26}" stroke="{LINE}"/>'
                    f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" font-size="11" fill="{MUTED}">{age}歳</text>')
    for i, r in enumerate(rows):
        y = top + row_h * i
        body.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" font-size="12" fill="#1f2933">'
                    f'{escape(r["label"])}</text>')
        if r.get("earliest") and r.get("legal_until"):
            x0, x1 = _x(r["earliest"], start, end, left, plot_w), _x(r["legal_until"], start, end, left, plot_w)
            body.append(f'<rect x="{x0:.1f}" y="{y + 5}" width="{max(x1 - x0, 2):.1f}" height="14" fill="#dbe7f5">'
                        f'<title>定期接種として受けられる期間 {r["earliest"].isoformat()}〜{r["legal_until"].isoformat()}</title></rect>')
        if r.get("standard_from") and r.get("standard_until"):
            x0, x1 = _x(r["standard_from"], start, end, left, plot_w), _x(r["standard_until"], start, end, left, plot_w)
            body.append(f'<rect x="{x0:.1f}" y="{y + 8}" width="{max(x1 - x0, 2):.1f}" height="8" fill="#7fa6d6">'
                        f'<title>標準的な接種期間 {r["standard_from"].isoformat()}〜{r["standard_until"].isoformat()}</title></rect>')
        for d, status in r["doses"]:
            x = _x(d, start, end, left, plot_w)
            body.append(f'<circle cx="{x:.1f}" cy="{y + 12}" r="5" fill="{VERDICT_COLOURS.get(status, MUTED)}" '
                        f'stroke="#ffffff" stroke-width="1.5"><title>{d.isoformat()} 接種</title></circle>')
    x = _x(as_of, start, end, left, plot_w)
    body.append(f'<line x1="{x:.1f}" y1="{top - 10}" x2="{x:.1f}" y2="{height - 26}" stroke="{DANGER}" '
                f'stroke-dasharray="4 3"/><text x="{x + 4:.1f}" y="{top - 12}" font-size="11" fill="{DANGER}">今日</text>')
    if not rows:
        body.append(f'<text x="{left}" y="{top + 16}" font-size="12" fill="{MUTED}">表示できる接種の予定・記録はありません</text>')
    return _svg(width, height, title, body, cls="chart timeline")
