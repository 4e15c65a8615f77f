"""The synced record's shape is declared once (integrations/directory_fields.py).

Every list the sync works with is derived from the declaration, so adding a
synced attribute is one line there; the typed records (kept hand-written for
speed and for the type checker) and the models must then agree with it.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from integrations import audit_format
from integrations.directory_fields import (
    FIELDS,
    FLAG,
    SHAPE,
    TEXT,
    ContactCreate,
    ContactState,
    MirrorUser,
    RecordShape,
    SyncedField,
)
from integrations.graph import client
from integrations.graph.models import SELECT, GraphUser
from integrations.models import DirectoryUser
from integrations.sync import bulk, loaders, mirror
from integrations.sync.plan import CONTACT_SYNCED, SYNCED_FIELDS
from portal.customers.models import Contact

COMPANY = SyncedField("companyName", "company_name", TEXT, 64, contact_field="company", label=_("Company"))
HIDDEN = SyncedField("showInAddressList", "show_in_address_list", FLAG)


def test_adding_a_synced_text_field_is_one_line_and_reaches_every_derived_list():
    shape = RecordShape((*FIELDS, COMPANY))

    assert shape.select == f"{SHAPE.select},companyName"
    assert shape.graph_attributes["companyName"] == "company_name"
    assert shape.max_lengths["company_name"] == 64
    assert "company_name" in shape.text_attributes
    assert "company_name" in shape.mirror_row_columns
    assert "company_name" in shape.mirror_user_fields
    assert shape.synced_fields["company"] == "company_name"
    assert "company" in shape.audited_fields
    assert shape.labels["company"] == "Company"
    assert "company" in shape.new_contact_columns
    assert "company" in shape.updatable_contact_columns
    # Nothing else moved: the new field is the only difference in each list.
    assert set(shape.mirror_row_columns) - set(SHAPE.mirror_row_columns) == {"company_name"}
    assert set(shape.new_contact_columns) - set(SHAPE.new_contact_columns) == {"company"}


def test_adding_a_flag_reaches_the_mirror_but_no_contact_or_length():
    shape = RecordShape((*FIELDS, HIDDEN))

    assert shape.select.endswith(",showInAddressList")
    assert "show_in_address_list" in shape.flag_attributes
    assert "show_in_address_list" in shape.mirror_row_columns
    assert "show_in_address_list" not in shape.max_lengths
    assert shape.synced_fields == SHAPE.synced_fields
    assert shape.new_contact_columns == SHAPE.new_contact_columns


def test_the_modules_use_the_declared_lists():
    assert SHAPE.select == SELECT
    assert SHAPE.mirror_row_columns == mirror.ROW_COLUMNS
    assert (
        SHAPE.new_contact_columns,
        SHAPE.updatable_contact_columns,
    ) == (bulk.NEW_CONTACT_COLUMNS, bulk.UPDATABLE_CONTACT_COLUMNS)
    assert SHAPE.synced_fields == SYNCED_FIELDS
    parsed = {*client._STRING_PROPERTIES, *client._FLAG_PROPERTIES, *client._LICENSE_PROPERTIES}
    assert parsed == {(f.graph, f.attribute) for f in FIELDS if f.graph != "id"}
    assert {field: audit_format.field_label(field) for field in SHAPE.labels} == {
        field: str(label) for field, label in SHAPE.labels.items()
    }


def test_the_typed_records_agree_with_the_declaration():
    attributes = tuple(f.attribute for f in FIELDS)
    graph_user = tuple(name for name in GraphUser._fields if name not in ("present", "removed"))
    assert graph_user == attributes
    assert MirrorUser._fields == SHAPE.mirror_user_fields
    assert SHAPE.mirror_user_fields == loaders._MIRROR_FIELDS
    assert ContactCreate._fields == ("object_id", *SHAPE.new_contact_columns[1:])
    assert ContactState._fields[CONTACT_SYNCED] == tuple(SHAPE.synced_fields)


def test_the_models_have_a_column_of_the_declared_size_for_each_field():
    for field in FIELDS:
        column = DirectoryUser._meta.get_field(field.attribute)
        if field.kind in (TEXT, "id"):
            assert column.max_length == field.max_length, field.attribute
        if field.contact_field:
            # The mirror's value, cleaned to its length, must fit the contact's column.
            assert Contact._meta.get_field(field.contact_field).max_length >= field.max_length, field
    columns = {field.column for field in Contact._meta.concrete_fields}
    assert {*SHAPE.new_contact_columns, *SHAPE.updatable_contact_columns} <= columns
