"""Money in one place: what bookings cost, monthly statements, vouchers and what they pay.

``statements`` is the arithmetic (pure); ``store`` its SQL.
"""

from pilotshare.billing.statements import Statement, as_csv, billed_hours
from pilotshare.billing.store import Voucher, grant_voucher, statement, voucher_balance, vouchers

__all__ = [
    "Statement",
    "Voucher",
    "as_csv",
    "billed_hours",
    "grant_voucher",
    "statement",
    "voucher_balance",
    "vouchers",
]
