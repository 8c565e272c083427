"""The 全銀協 bank and branch master: which 金融機関コード and 店舗コード exist and the kana names a
総合振込 file must carry for them.

The master is the `zengin-code` package (PyPI, pinned in pyproject.toml), a maintained copy of the
全銀協 code lists; updating it is a version bump. Names are kept here in the file's half-width form
(`payments.zengin.to_zengin_text`), so a name typed in full-width or hiragana compares equal.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version

from sesshu.payments.zengin import to_zengin_text

NAME_WIDTH = 15  # 銀行名・支店名 in the 全銀 record (half-width characters); no master name is longer


@dataclass(frozen=True)
class Branch:
    code: str
    name: str  # 漢字
    kana: str  # half-width, as in the file


@dataclass(frozen=True)
class Bank:
    code: str
    name: str
    kana: str
    branches: dict[str, Branch]


def master_version() -> str:
    return f"zengin-code {version('zengin-code')}"


@lru_cache(maxsize=1)
def _banks() -> dict[str, Bank]:
    from zengin_code import Bank as ZenginBank  # loads every bank and branch: only when asked

    return {code: Bank(code=code, name=b.name, kana=to_zengin_text(b.kana),
                       branches={bc: Branch(code=bc, name=br.name, kana=to_zengin_text(br.kana))
                                 for bc, br in b.branches.items()})
            for code, b in ZenginBank.all.items()}


def bank(code: str) -> Bank | None:
    return _banks().get(code)


def branch(bank_code: str, branch_code: str) -> Branch | None:
    b = bank(bank_code)
    return b.branches.get(branch_code) if b else None


def account_problem(*, bank_code: str, bank_name: str, branch_code: str, branch_name: str) -> str:
    """Why these bank/branch codes and kana names would fail a bank's check ("" when they match the
    master). Names are expected in the file's half-width form."""
    b = bank(bank_code)
    if b is None:
        return f"銀行コード「{bank_code}」は全銀協の金融機関マスタ（{master_version()}）にありません"
    if bank_name != b.kana:
        return f"銀行名「{bank_name}」が銀行コード {bank_code} の名称（{b.kana}／{b.name}）と一致しません"
    br = b.branches.get(branch_code)
    if br is None:
        return f"支店コード「{branch_code}」は {b.name}（{bank_code}）の店舗マスタ（{master_version()}）にありません"
    if branch_name != br.kana:
        return (f"支店名「{branch_name}」が {b.name}（{bank_code}）支店コード {branch_code} の名称"
                f"（{br.kana}／{br.name}）と一致しません")
    return ""
