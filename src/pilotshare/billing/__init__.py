"""Money in one place: what bookings cost, monthly statements, vouchers and what they pay.

``statements`` is the arithmetic of a statement and ``redemption`` that of vouchers paying
its lines, ``accounts`` the vouchers' figures and report (all pure); ``store`` their SQL and
``ledger`` the figures read from the database.
"""

from pilotshare.billing.accounts import (
    STATUSES,
    Account,
    Figures,
    Programme,
    Report,
    Status,
    Use,
    Voucher,
    VoucherRow,
    report_csv,
)
from pilotshare.billing.ledger import (
    redeemed_by_platform,
    voucher_account,
    voucher_accounts,
    voucher_audit,
    voucher_report,
)
from pilotshare.billing.redemption import Paid
from pilotshare.billing.statements import Line, Statement, as_csv, billed_hours
from pilotshare.billing.store import (
    edit_voucher,
    grant_voucher,
    revoke_voucher,
    statement,
    voucher,
    voucher_balance,
    vouchers,
)

__all__ = [
    "STATUSES",
    "Account",
    "Figures",
    "Line",
    "Paid",
    "Programme",
    "Report",
    "Statement",
    "Status",
    "Use",
    "Voucher",
    "VoucherRow",
    "as_csv",
    "billed_hours",
    "edit_voucher",
    "grant_voucher",
    "redeemed_by_platform",
    "report_csv",
    "revoke_voucher",
    "statement",
    "voucher",
    "voucher_account",
    "voucher_accounts",
    "voucher_audit",
    "voucher_balance",
    "voucher_report",
    "vouchers",
]
