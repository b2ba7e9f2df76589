import re

from clockapp.stamps import day, stamp


def test_stamp_is_utc_to_the_second() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp())


def test_day_is_the_date_of_the_stamp() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", day())
