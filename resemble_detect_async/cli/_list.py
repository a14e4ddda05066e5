"""``resemble-detect list``: the team's detections, newest first, one page or all of them."""

from __future__ import annotations

import click

from resemble_detect_async import Page

from ._exit import ExitCode
from ._options import json_option
from ._output import Row, console, detection_name, detection_table, emit_json, hint, raw, show
from ._runtime import run, runtime

__all__ = ["command"]


def _print_page(page: Page, *, as_json: bool, header: bool) -> None:
    if as_json:
        for detection in page.items:
            emit_json(raw(detection.raw))
        return
    if not page.items:
        return
    rows = (
        Row(name=detection_name(detection), uuid=detection.uuid, detection=detection)
        for detection in page.items
    )
    show(
        console(), detection_table(rows, name_header="NAME", show_created=True, show_header=header)
    )


async def _list(*, everything: bool, page: int, page_size: int, as_json: bool) -> ExitCode:
    shown = 0
    async with runtime().make_client() as client:
        pager = client.list_detections(page=page, page_size=page_size)
        if everything:
            async for each in pager.pages():
                _print_page(each, as_json=as_json, header=shown == 0)
                shown += len(each.items)
            if not as_json:
                hint(f"{shown} detections")
            return ExitCode.OK
        one = await pager
    _print_page(one, as_json=as_json, header=True)
    if not as_json:
        where = f"page {one.page or page}" + (f" of {one.num_pages}" if one.num_pages else "")
        total = f", {one.total_count} detections" if one.total_count is not None else ""
        more = f"; next: resemble-detect list --page {page + 1}" if one.has_next else ""
        hint(f"{where}{total}{more}" if one.items else f"no detections on {where}{total}")
    return ExitCode.OK


@click.command("list", short_help="List your detections, newest first.")
@click.option("--all", "everything", is_flag=True, help="Every page, fetched as needed.")
@click.option(
    "--page",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="The page to show (default 1).",
)
@click.option(
    "--page-size",
    type=click.IntRange(10, 1000),
    default=100,
    show_default=True,
    metavar="N",
    help="Detections per page, 10-1000.",
)
@json_option()
def command(everything: bool, page: int | None, page_size: int, as_json: bool) -> ExitCode:
    """List your detections, newest first.

    Shows one page (--page N, default 1) or, with --all, every page from the first, fetched
    one at a time as they are printed. With --json, one detection per line, as the API sent
    it.
    """
    if everything and page is not None:
        raise click.UsageError("use --all or --page, not both")
    return run(_list(everything=everything, page=page or 1, page_size=page_size, as_json=as_json))
