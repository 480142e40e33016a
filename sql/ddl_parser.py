"""The schema statements of the parser adapter: pglast JSON -> `sql.ddl_ast`.

`DdlStatements` is mixed into the parser's converter (sql/parser.py), which
provides the shared pieces it calls: `loc`, `unsupported`, `type_name`,
`expr`, `statement` and `deparse` (the SQL text of an expression, via
pglast's deparser: the only pglast use stays in parser.py). Every construct
the DDL AST cannot express raises `FeatureNotSupported` (0A000) naming it,
as everywhere in the parser.
"""

from __future__ import annotations

from typing import Any

from quorumdb.storage import keycode
from quorumdb.storage.errors import FeatureNotSupported, QuorumError, SyntaxErrorSQL

from . import ast
from . import ddl_ast as D

__all__ = ["DdlStatements"]

J = dict[str, Any]

_DROP_KINDS = {
    "OBJECT_TABLE": "table",
    "OBJECT_INDEX": "index",
    "OBJECT_VIEW": "view",
    "OBJECT_SEQUENCE": "sequence",
    "OBJECT_SCHEMA": "schema",
}
_RENAME_KINDS = {
    "OBJECT_TABLE": "table",
    "OBJECT_COLUMN": "column",
    "OBJECT_TABCONSTRAINT": "constraint",
    "OBJECT_INDEX": "index",
    "OBJECT_VIEW": "view",
    "OBJECT_SEQUENCE": "sequence",
    "OBJECT_SCHEMA": "schema",
}
_ALTER_NAMES = {
    "AT_AlterColumnType": "ALTER COLUMN ... TYPE",
    "AT_AddIdentity": "ALTER COLUMN ... ADD IDENTITY",
    "AT_DropIdentity": "ALTER COLUMN ... DROP IDENTITY",
    "AT_SetIdentity": "ALTER COLUMN ... SET (identity options)",
    "AT_SetStatistics": "ALTER COLUMN ... SET STATISTICS",
    "AT_SetStorage": "ALTER COLUMN ... SET STORAGE",
    "AT_ValidateConstraint": "VALIDATE CONSTRAINT",
    "AT_ChangeOwner": "OWNER TO",
    "AT_SetRelOptions": "SET (storage parameters)",
    "AT_ResetRelOptions": "RESET (storage parameters)",
}


def _strings(items: list[J]) -> tuple[str, ...]:
    return tuple(item["String"]["sval"] for item in items)


def _int_arg(d: J) -> int | None:
    arg = d.get("arg")
    if arg is None:
        return None
    if "Integer" in arg:
        return int(arg["Integer"].get("ival", 0))
    if "Float" in arg:
        return int(arg["Float"]["fval"])
    raise SyntaxErrorSQL(f'option "{d["defname"]}" requires a numeric value')


class DdlStatements:
    """stmt_* converters for CREATE/DROP/ALTER, TRUNCATE, VACUUM and friends."""

    # Provided by the converter this is mixed into (sql/parser.py).
    def loc(self, body: J) -> int:
        raise NotImplementedError

    def unsupported(self, what: str, body: J | None = None) -> FeatureNotSupported:
        raise NotImplementedError

    def type_name(self, body: J) -> ast.TypeName:
        raise NotImplementedError

    def expr(self, node: J) -> ast.Expr:
        raise NotImplementedError

    def statement(self, node: J) -> ast.Statement:
        raise NotImplementedError

    def deparse(self, node: J) -> str:
        raise NotImplementedError

    def deparse_query(self, body: J) -> str:
        raise NotImplementedError

    # ---- names -------------------------------------------------------------------

    def range_var(self, body: J) -> ast.TableName:
        if "catalogname" in body:
            raise self.unsupported("cross-database references", body)
        alias = body.get("alias", {}).get("aliasname")
        return ast.TableName(body["relname"], body.get("schemaname"), alias, self.loc(body))

    def qualified(self, items: list[J]) -> ast.TableName:
        parts = _strings(items)
        if len(parts) > 2:
            raise self.unsupported("cross-database references")
        return ast.TableName(parts[-1], parts[0] if len(parts) == 2 else None)

    # ---- CREATE TABLE ----------------------------------------------------------------

    def stmt_CreateStmt(self, body: J) -> D.CreateTable:
        table = self.range_var(body["relation"])
        if body["relation"].get("relpersistence", "p") != "p":
            raise self.unsupported("TEMPORARY and UNLOGGED tables", body["relation"])
        if "inhRelations" in body:
            raise self.unsupported("INHERITS")
        if "partspec" in body or "partbound" in body:
            raise self.unsupported("partitioned tables")
        if "ofTypename" in body:
            raise self.unsupported("CREATE TABLE ... OF type")
        if body.get("oncommit", "ONCOMMIT_NOOP") != "ONCOMMIT_NOOP":
            raise self.unsupported("ON COMMIT")
        for option in body.get("options", ()):
            name = option["DefElem"]["defname"]
            if name not in ("fillfactor", "autovacuum_enabled", "toast.autovacuum_enabled"):
                raise self.unsupported(f"storage parameter {name}", option["DefElem"])
        columns: list[D.ColumnDef] = []
        constraints: list[D.Constraint] = []
        for element in body.get("tableElts", ()):
            (kind, e), = element.items()
            if kind == "ColumnDef":
                columns.append(self.column_def(e, table.name))
            elif kind == "Constraint":
                constraints.append(self.constraint(e, table_level=True))
            else:
                raise self.unsupported("LIKE in CREATE TABLE", e)
        primaries = [c.location for c in constraints if c.kind == "primary"]
        primaries += [k.location for c in columns for k in c.constraints if k.kind == "primary"]
        if len(primaries) > 1:
            raise QuorumError(
                f'multiple primary keys for table "{table.name}" are not allowed',
                sqlstate="42P16",
                position=sorted(primaries)[1] + 1,
            )
        return D.CreateTable(
            table, tuple(columns), tuple(constraints), bool(body.get("if_not_exists")), self.loc(body)
        )

    def column_def(self, body: J, table: str) -> D.ColumnDef:
        if "collClause" in body:
            raise self.unsupported("COLLATE", body)
        name = body["colname"]
        constraints = [self.constraint(c["Constraint"]) for c in body.get("constraints", ())]
        nullness = [c for c in constraints if c.kind in ("not_null", "null")]
        if len({c.kind for c in nullness}) > 1:
            raise SyntaxErrorSQL(
                f'conflicting NULL/NOT NULL declarations for column "{name}" of table "{table}"',
                position=nullness[1].location + 1,
            )
        defaults = [c for c in constraints if c.kind == "default"]
        if len(defaults) > 1:
            raise SyntaxErrorSQL(
                f'multiple default values specified for column "{name}" of table "{table}"',
                position=defaults[1].location + 1,
            )
        return D.ColumnDef(name, self.type_name(body["typeName"]), tuple(constraints), self.loc(body))

    def constraint(self, body: J, table_level: bool = False) -> D.Constraint:
        contype = body["contype"]
        name = body.get("conname")
        location = self.loc(body)
        if body.get("deferrable") or body.get("initdeferred"):
            raise self.unsupported("DEFERRABLE", body)
        if contype == "CONSTR_NOTNULL":
            return D.Constraint("not_null", name, location=location)
        if contype == "CONSTR_NULL":
            return D.Constraint("null", name, location=location)
        if contype in ("CONSTR_ATTR_NOT_DEFERRABLE", "CONSTR_ATTR_IMMEDIATE"):
            return D.Constraint("null", name, location=location)  # the default: nothing to do
        if contype in ("CONSTR_ATTR_DEFERRABLE", "CONSTR_ATTR_DEFERRED"):
            raise self.unsupported("DEFERRABLE", body)
        if contype == "CONSTR_DEFAULT":
            raw = body["raw_expr"]
            return D.Constraint(
                "default", name, expr=self.expr(raw), expr_text=self.deparse(raw), location=location
            )
        if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
            for option in ("including", "options", "indexname", "indexspace", "exclusions"):
                if option in body:
                    raise self.unsupported(
                        "INCLUDE" if option == "including" else "index options of a constraint",
                        body,
                    )
            if body.get("nulls_not_distinct"):
                raise self.unsupported("NULLS NOT DISTINCT", body)
            kind = "primary" if contype == "CONSTR_PRIMARY" else "unique"
            return D.Constraint(kind, name, _strings(body.get("keys", [])), location=location)
        if contype == "CONSTR_CHECK":
            if body.get("is_no_inherit"):
                raise self.unsupported("NO INHERIT", body)
            raw = body["raw_expr"]
            return D.Constraint(
                "check", name, expr=self.expr(raw), expr_text=self.deparse(raw), location=location
            )
        if contype == "CONSTR_FOREIGN":
            if body.get("fk_matchtype", "s") != "s":
                raise self.unsupported("MATCH FULL and MATCH PARTIAL", body)
            if "fk_del_set_cols" in body:
                raise self.unsupported("ON DELETE SET NULL (columns)", body)
            return D.Constraint(
                "foreign",
                name,
                _strings(body.get("fk_attrs", [])),
                ref_table=self.range_var(body["pktable"]),
                ref_columns=_strings(body.get("pk_attrs", [])),
                on_delete=body.get("fk_del_action", "a"),
                on_update=body.get("fk_upd_action", "a"),
                location=location,
            )
        if contype == "CONSTR_IDENTITY":
            identity = "always" if body.get("generated_when", "a") == "a" else "by default"
            options = self.sequence_options(body.get("options", ()))
            return D.Constraint(
                "identity", name, identity=identity, sequence=options, location=location
            )
        names = {
            "CONSTR_GENERATED": "generated columns",
            "CONSTR_EXCLUSION": "EXCLUDE constraints",
        }
        raise self.unsupported(names.get(contype, str(contype)), body)

    # ---- DROP ------------------------------------------------------------------------

    def stmt_DropStmt(self, body: J) -> D.DropObjects:
        remove = body.get("removeType", "")
        kind = _DROP_KINDS.get(remove)
        if kind is None:
            raise self.unsupported("DROP " + remove.removeprefix("OBJECT_").replace("_", " "))
        if body.get("concurrent"):
            raise self.unsupported("DROP INDEX CONCURRENTLY")
        names = []
        for obj in body.get("objects", ()):
            if kind == "schema":
                names.append(ast.TableName(obj["String"]["sval"]))
            else:
                names.append(self.qualified(obj["List"]["items"]))
        return D.DropObjects(
            kind, tuple(names), bool(body.get("missing_ok")), body.get("behavior") == "DROP_CASCADE"
        )

    # ---- indexes ------------------------------------------------------------------------

    def stmt_IndexStmt(self, body: J) -> D.CreateIndex:
        if body.get("accessMethod", "btree") != "btree":
            raise self.unsupported(f"index access method {body['accessMethod']}", body)
        if body.get("concurrent"):
            raise self.unsupported("CREATE INDEX CONCURRENTLY")
        if "whereClause" in body:
            raise self.unsupported("partial indexes")
        if "indexIncludingParams" in body:
            raise self.unsupported("INCLUDE")
        if body.get("nulls_not_distinct"):
            raise self.unsupported("NULLS NOT DISTINCT")
        columns = []
        options = []
        for param in body.get("indexParams", ()):
            elem = param["IndexElem"]
            if "expr" in elem or "name" not in elem:
                raise self.unsupported("indexes on expressions")
            if "collation" in elem or "opclass" in elem:
                raise self.unsupported("index operator classes and collations")
            columns.append((elem["name"], self.loc(body["relation"])))
            descending = elem.get("ordering") == "SORTBY_DESC"
            nulls = elem.get("nulls_ordering", "SORTBY_NULLS_DEFAULT")
            nulls_first = nulls == "SORTBY_NULLS_FIRST" or (
                descending and nulls == "SORTBY_NULLS_DEFAULT"
            )
            options.append((keycode.DESC if descending else 0) | (keycode.NULLS_FIRST if nulls_first else 0))
        return D.CreateIndex(
            body.get("idxname"),
            self.range_var(body["relation"]),
            tuple(columns),
            bool(body.get("unique")),
            bool(body.get("if_not_exists")),
            tuple(options) if any(options) else (),
        )

    # ---- ALTER TABLE -----------------------------------------------------------------------

    def stmt_AlterTableStmt(self, body: J) -> D.AlterTable:
        if body.get("objtype", "OBJECT_TABLE") != "OBJECT_TABLE":
            raise self.unsupported("ALTER " + body["objtype"].removeprefix("OBJECT_"))
        table = self.range_var(body["relation"])
        commands = [self.alter_command(c["AlterTableCmd"], table.name) for c in body["cmds"]]
        return D.AlterTable(table, tuple(commands), bool(body.get("missing_ok")))

    def alter_command(self, body: J, table: str) -> D.AlterCommand:
        subtype = body["subtype"]
        cascade = body.get("behavior") == "DROP_CASCADE"
        if_exists = bool(body.get("missing_ok"))
        name = body.get("name")
        if subtype == "AT_AddColumn":
            definition = self.column_def(body["def"]["ColumnDef"], table)
            return D.AlterCommand("add_column", definition.name, definition, if_exists=if_exists)
        if subtype == "AT_DropColumn":
            return D.AlterCommand("drop_column", name, if_exists=if_exists, cascade=cascade)
        if subtype == "AT_ColumnDefault":
            raw = body.get("def")
            if raw is None:
                return D.AlterCommand("drop_default", name)
            return D.AlterCommand(
                "set_default", name, default=self.expr(raw), default_text=self.deparse(raw)
            )
        if subtype == "AT_SetNotNull":
            return D.AlterCommand("set_not_null", name)
        if subtype == "AT_DropNotNull":
            return D.AlterCommand("drop_not_null", name)
        if subtype == "AT_AddConstraint":
            constraint = self.constraint(body["def"]["Constraint"], table_level=True)
            return D.AlterCommand("add_constraint", constraint=constraint)
        if subtype == "AT_DropConstraint":
            return D.AlterCommand("drop_constraint", name, if_exists=if_exists, cascade=cascade)
        raise self.unsupported(
            "ALTER TABLE " + _ALTER_NAMES.get(subtype, subtype.removeprefix("AT_"))
        )

    def stmt_RenameStmt(self, body: J) -> D.Rename:
        rename = body["renameType"]
        kind = _RENAME_KINDS.get(rename)
        if kind is None:
            raise self.unsupported("ALTER " + rename.removeprefix("OBJECT_") + " ... RENAME")
        if kind == "schema":
            target = ast.TableName(body["subname"])
            return D.Rename(kind, target, body["subname"], body["newname"])
        target = self.range_var(body["relation"])
        return D.Rename(
            kind, target, body.get("subname"), body["newname"], bool(body.get("missing_ok"))
        )

    def stmt_TruncateStmt(self, body: J) -> D.Truncate:
        tables = tuple(self.range_var(r["RangeVar"]) for r in body.get("relations", ()))
        return D.Truncate(
            tables, bool(body.get("restart_seqs")), body.get("behavior") == "DROP_CASCADE"
        )

    # ---- views, sequences, schemas -----------------------------------------------------------

    def stmt_ViewStmt(self, body: J) -> D.CreateView:
        if body.get("withCheckOption", "NO_CHECK_OPTION") != "NO_CHECK_OPTION":
            raise self.unsupported("WITH CHECK OPTION")
        if "options" in body:
            raise self.unsupported("view options")
        name = self.range_var(body["view"])
        if body["view"].get("relpersistence", "p") != "p":
            raise self.unsupported("temporary views", body["view"])
        query = self.statement(body["query"])
        return D.CreateView(
            name,
            _strings(body.get("aliases", [])),
            query,
            self.deparse_query(body["query"]),
            bool(body.get("replace")),
        )

    def sequence_options(self, options: Any) -> D.SequenceOptions:
        values: dict[str, Any] = {}
        for option in options:
            d = option["DefElem"]
            name = d["defname"]
            if name in values or (name in ("minvalue", "maxvalue") and f"no_{name}" in values):
                raise SyntaxErrorSQL("conflicting or redundant options", position=self.loc(d) + 1)
            if name == "as":
                values["type"] = self.type_name(d["arg"]["TypeName"])
            elif name in ("start", "increment", "cache"):
                values[name] = _int_arg(d)
            elif name in ("minvalue", "maxvalue"):
                value = _int_arg(d)
                key = "min_value" if name == "minvalue" else "max_value"
                if value is None:
                    values["no_min" if name == "minvalue" else "no_max"] = True
                else:
                    values[key] = value
            elif name == "cycle":
                values["cycle"] = bool(d["arg"]["Boolean"].get("boolval", False))
            elif name == "restart":
                restart = _int_arg(d)
                if restart is None:
                    values["restart_to_start"] = True
                else:
                    values["restart"] = restart
            elif name == "owned_by":
                parts = _strings(d["arg"]["List"]["items"])
                values["owned_by"] = () if parts == ("none",) else parts
            elif name == "sequence_name":
                pass  # GENERATED ... AS IDENTITY (SEQUENCE NAME x): we pick the name
            else:
                raise self.unsupported(f"sequence option {name.upper()}", d)
        return D.SequenceOptions(**values)

    def stmt_CreateSeqStmt(self, body: J) -> D.CreateSequence:
        name = self.range_var(body["sequence"])
        return D.CreateSequence(
            name, self.sequence_options(body.get("options", ())), bool(body.get("if_not_exists"))
        )

    def stmt_AlterSeqStmt(self, body: J) -> D.AlterSequence:
        name = self.range_var(body["sequence"])
        return D.AlterSequence(
            name, self.sequence_options(body.get("options", ())), bool(body.get("missing_ok"))
        )

    def stmt_CreateSchemaStmt(self, body: J) -> D.CreateSchema:
        if "schemaElts" in body:
            raise self.unsupported("CREATE SCHEMA with schema elements")
        name = body.get("schemaname") or body.get("authrole", {}).get("rolename")
        if not name:
            raise self.unsupported("CREATE SCHEMA AUTHORIZATION without a name")
        return D.CreateSchema(name, bool(body.get("if_not_exists")))

    # ---- the rest ----------------------------------------------------------------------------

    def stmt_VacuumStmt(self, body: J) -> D.Maintenance:
        return D.Maintenance("VACUUM" if body.get("is_vacuumcmd") else "ANALYZE")

    def stmt_CreatedbStmt(self, body: J) -> D.RefusedDatabase:
        return D.RefusedDatabase("CREATE DATABASE")

    def stmt_DropdbStmt(self, body: J) -> D.RefusedDatabase:
        return D.RefusedDatabase("DROP DATABASE")

