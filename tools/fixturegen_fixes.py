"""The `tenants_hidden` fixture: what the issue 13 fixes read that no capture has.

Imported by make_fixtures.py, which passes itself in (`mf`) so this module builds on its sets and
helpers without importing it back. Every body here is the v054_notifications set's (v0.50 captures
plus the DOCUMENTED alerts and notifications) with additions BUILT from Metabase's source, each one
cited below; no capture of any of them exists.

- Hidden tables and a sensitive field. `GET /api/database/:id/metadata` drops tables whose
  `visibility_type` is set (hidden, technical, cruft) and fields whose `visibility_type` is
  `sensitive` unless `include_hidden=true` (metabase/metabase
  src/metabase/warehouses_rest/api.clj, `db-metadata`; the same filter since
  src/metabase/api/database.clj). Three tables are added to database 2, copies of the captured
  `orders` table (shape and fields) with new ids and names, one per visibility type; one field of
  the `hidden` table is `sensitive`.
- A database still syncing: database 3, a copy of database 2's list item and metadata with a new
  id and name, `initial_sync_status` "incomplete" and `"tables": []`.
- Tenant users. On an instance with tenants (0.57+), `GET /api/user` lists only internal users
  (`tenant_id` null) unless `tenancy=all` (src/metabase/users_rest/api.clj, `GET /`); admins
  also get `tenant_collection_id` hydrated. Two tenant users (tenant 1) are added beside user 1,
  copies of user 1's list item with their own ids, names, emails and timestamps, no superuser,
  and `tenant_id` / `tenant_collection_id` as that endpoint sends them (user 1: both null).
- Archived alerts. From 0.54, `GET /api/alert?archived=true` lists the alerts synthesised from
  the INACTIVE card notifications (src/metabase/pulse/api/alert.clj: `:legacy-active (not
  archived)`): notification 3 gives alert 3, `archived` true.
- The Trash. `GET /api/collection?archived=true` lists the archived collections and the Trash
  (0.50+; src/metabase/collections_rest/api.clj, `select-collections`: `[:= :id
  (collection/trash-collection-id)]`), a collection whose `type` is "trash"
  (src/metabase/collections/models/collection.clj, `trash-collection-type`), itself not archived.
  Its keys are those of the captured collection 2, its values the Trash's (name "Trash", slug
  "trash", location "/").
"""

import copy
from datetime import datetime, timezone

FIXTURE = "tenants_hidden"
TENANT_ID = 1
# The tables added to database 2: (id, name, visibility_type).
HIDDEN_TABLES = [(17, "orders_2019_backup", "cruft"), (18, "_airbyte_raw_orders", "technical"), (19, "payroll", "hidden")]
# Field ids added start here (the v0.50 captures' largest is 109).
FIRST_FIELD_ID = 200
SYNCING_DB = 3


def hidden_tables(metadata):
    """Database 2's metadata with HIDDEN_TABLES added (copies of `orders`); in the `hidden` one,
    the first field is `sensitive`."""
    out = copy.deepcopy(metadata)
    orders = next(t for t in out["tables"] if t["name"] == "orders")
    field_id = FIRST_FIELD_ID
    for table_id, name, visibility in HIDDEN_TABLES:
        t = copy.deepcopy(orders)
        t.update({"id": table_id, "name": name, "display_name": name.replace("_", " ").strip().title(),
                  "visibility_type": visibility})
        for f in t["fields"]:
            f.update({"id": field_id, "table_id": table_id})
            field_id += 1
        if visibility == "hidden":
            t["fields"][0]["visibility_type"] = "sensitive"
        out["tables"].append(t)
    return out


def syncing_database(item, metadata):
    """Database 3: (list item, metadata) from database 2's, still syncing, with no tables."""
    changes = {"id": SYNCING_DB, "name": "Warehouse (syncing)", "initial_sync_status": "incomplete",
               "created_at": "2024-06-20T06:30:12.5Z", "updated_at": "2024-06-20T06:30:12.5Z"}
    listed = dict(item, **changes)
    meta = dict({k: v for k, v in metadata.items() if k != "tables"}, **changes)
    meta["tables"] = []
    return listed, meta


def tenant_users(first):
    """User 1 (internal) and two tenant users, in Metabase's order (lower first name, last name, id)."""
    internal = dict(first, tenant_id=None, tenant_collection_id=None)

    def tenant(uid, first_name, last_name, joined, updated, collection_id):
        u = dict(first)
        u.update({"id": uid, "email": "%s.%s@tenant-one.example.com" % (first_name.lower(), last_name.lower()),
                  "first_name": first_name, "last_name": last_name, "common_name": "%s %s" % (first_name, last_name),
                  "is_superuser": False, "last_login": None, "date_joined": joined, "updated_at": updated,
                  "login_attributes": None, "group_ids": [1], "tenant_id": TENANT_ID,
                  "tenant_collection_id": collection_id})
        return u

    users = [internal,
             tenant(5, "Ada", "Tenant", "2024-06-20T06:11:05.3Z", "2024-06-20T06:11:05.3Z", 7),
             tenant(6, "Zoe", "Tenant", "2024-06-20T06:12:40.91Z", "2024-06-20T06:20:02.4Z", 8)]
    return sorted(users, key=lambda u: ((u["first_name"] or "").lower(), (u["last_name"] or "").lower(), u["id"]))


def archived_alerts(mf, data, notifications):
    """The alerts 0.54+ synthesises from the inactive notifications, `archived` true."""
    alerts = mf.synthesized_alerts(data, [dict(n, active=True) for n in notifications if not n["active"]])
    return [dict(a, archived=True) for a in alerts]


def trash(collections):
    """The Trash collection, with the keys of the captured collection 2 (see the module doc)."""
    keys = list(next(c for c in collections if c["id"] == 2))
    values = {"authority_level": None, "description": None, "archived": False, "slug": "trash", "can_write": True,
              "name": "Trash", "personal_owner_id": None, "type": "trash", "is_sample": False, "id": 3,
              "entity_id": "tRaShCoLlEcTiOn000001", "location": "/", "namespace": None, "is_personal": False,
              "created_at": "2024-06-19T11:33:32.44Z"}
    return {k: values[k] for k in keys}


def fixtures(mf, v054):
    """{name: (har, config)} of this module's fixture, built on the v054_notifications set."""
    data = copy.deepcopy(v054)
    data["metadata"][2] = hidden_tables(data["metadata"][2])
    listed, meta = syncing_database(data["database"][0], data["metadata"][2])
    data["database"].append(listed)
    data["metadata"][SYNCING_DB] = meta
    data["users"] = tenant_users(data["users"][0])
    data["alert_archived"] = archived_alerts(mf, data, data["notifications"])
    data["collection_archived"] = [trash(data["collection"])]
    config = {"instance_api_url": mf.ORIGIN + "/api", "api_key": "mb_dGVuYW50cy1oaWRkZW4ta2V5"}
    return {FIXTURE: mf.full_sync(FIXTURE, data, config, "api_key", datetime(2024, 6, 20, 6, 50, 0, tzinfo=timezone.utc))}
