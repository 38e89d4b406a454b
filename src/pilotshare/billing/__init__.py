"""Money in one place: what bookings cost, monthly statements, vouchers and what they pay."""
