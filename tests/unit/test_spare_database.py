"""The slice's test database renamed from a spare copy of template1 (kept stacks), and
Django's own CREATE DATABASE wherever that would not give the same database."""

import pytest
from django.db import DatabaseError

from fixtures.database import from_spare

TEST = "test_stackyard_gw0"
SPARE = "spare_test_stackyard_gw0"


def quote(name):
    return f'"{name}"'


class Cursor:
    """Records the statements; the spare exists or not; the rename may fail."""

    def __init__(self, spare_exists=True, rename_fails=False):
        self.spare_exists = spare_exists
        self.rename_fails = rename_fails
        self.statements = []
        self._row = None

    def execute(self, sql, params=None):
        self.statements.append((sql, params))
        if sql.startswith("SELECT"):
            self._row = (1,) if self.spare_exists else None
        elif sql.startswith("ALTER") and self.rename_fails:
            raise DatabaseError('database "test_stackyard_gw0" already exists')

    def fetchone(self):
        return self._row


class Django:
    """Django's own _execute_create_test_db, and the spare maker: what was asked of them."""

    def __init__(self, fails_once=False):
        self.created = []
        self.next_spares = 0
        self.fails_once = fails_once

    def create(self, cursor, parameters, keepdb=False):
        self.created.append((parameters["dbname"], parameters.get("suffix", ""), keepdb))
        if self.fails_once:
            self.fails_once = False
            raise DatabaseError("database exists")

    def make_next(self):
        self.next_spares += 1

    def execute(self):
        return from_spare(self.create, SPARE, TEST, quote, self.make_next)


def plain(name=TEST, suffix=""):
    return {"dbname": quote(name), "suffix": suffix}


def test_the_test_database_is_the_spare_renamed_and_the_next_spare_is_made():
    django, cursor = Django(), Cursor()
    django.execute()(cursor, plain())
    assert cursor.statements[-1] == (f'ALTER DATABASE "{SPARE}" RENAME TO "{TEST}"', None)
    assert django.created == []
    assert django.next_spares == 1


def test_without_a_spare_django_creates_it_and_the_next_spare_is_made():
    django, cursor = Django(), Cursor(spare_exists=False)
    django.execute()(cursor, plain())
    assert not any(sql.startswith("ALTER") for sql, _ in cursor.statements)
    assert django.created == [(quote(TEST), "", False)]
    assert django.next_spares == 1


@pytest.mark.parametrize(
    ("parameters", "keepdb"),
    [
        (plain(suffix='WITH TEMPLATE "template_postgis"'), False),  # TEST settings
        (plain(), True),  # --reuse-db: Django looks for the one it kept
        (plain(name="test_other"), False),  # another database of the project
    ],
)
def test_anything_but_a_plain_copy_of_template1_is_djangos(parameters, keepdb):
    django, cursor = Django(), Cursor()
    django.execute()(cursor, parameters, keepdb)
    assert cursor.statements == []
    assert django.created == [(parameters["dbname"], parameters["suffix"], keepdb)]
    assert django.next_spares == 0


def test_an_existing_test_database_is_left_to_django_then_the_spare_is_used():
    # A killed run's test database: the rename fails, Django's CREATE raises "exists",
    # Django drops the database and asks again.
    django = Django(fails_once=True)
    execute = django.execute()
    with pytest.raises(DatabaseError):
        execute(Cursor(rename_fails=True), plain())
    assert django.next_spares == 0
    cursor = Cursor()
    execute(cursor, plain())
    assert cursor.statements[-1][0].startswith("ALTER DATABASE")
    assert django.created == [(quote(TEST), "", False)]
    assert django.next_spares == 1
