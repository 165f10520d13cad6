/**
 * Policy facts for SQL, taken from the real PostgreSQL parser (libpg-query 18, WASM) and never from
 * regexes: comments, case, quoting, Unicode escapes, dollar quoting and several statements in one
 * string cannot change what policy sees, because the parser has already resolved them.
 *
 * For every statement this reports the Cedar action it maps to (the most privileged thing it does),
 * every action it performs (including writes hidden in CTEs, DO blocks, EXPLAIN ANALYZE, prepared
 * statements and side-effect functions), the tables it reads and writes, and session changes (role,
 * settings). Where something cannot be analyzed (a DO block that does not parse, dynamic SQL) the
 * facts say so, so that policy can fail safe.
 */
import { loadModule, normalizeSync, parsePlPgSQLSync, parseSync, scanSync } from 'libpg-query';

export type SqlAction =
  | 'sql:select'
  | 'sql:insert'
  | 'sql:update'
  | 'sql:delete'
  | 'sql:ddl'
  | 'sql:copy'
  | 'sql:admin'
  | 'sql:call';

export interface SqlStatementFacts {
  /** Parse-tree node name of the statement: SelectStmt, DeleteStmt, DoStmt, … */
  statementType: string;
  /** The Cedar action the statement maps to: the most privileged of `actions`. */
  action: SqlAction;
  /** Every action the statement performs, hidden ones included (sorted, unique). */
  actions: SqlAction[];
  /** Relations read: `schema.name` when written qualified, else the bare name, as the parser folded it. */
  tablesRead: string[];
  /** Targets of INSERT/UPDATE/DELETE/MERGE/TRUNCATE/COPY FROM/DDL (CTEs, DO blocks and sequences included). */
  tablesWritten: string[];
  /** Whether every UPDATE/DELETE it performs has a WHERE (TRUNCATE counts as none); null when it performs none. */
  hasWhere: boolean | null;
  /** Every function called, qualified as written, lowercased. */
  functions: string[];
  /** Human-readable reasons a write (or unanalyzable code) is hidden inside the statement. */
  hiddenWrites: string[];
  /** COPY … TO/FROM PROGRAM. */
  copyProgram: boolean;
  /** SET ROLE, SET SESSION AUTHORIZATION, RESET ROLE, DISCARD ALL, set_config('role', …). */
  changesRole: boolean;
  /** Session settings changed by SET/RESET/set_config/ALTER SYSTEM ('*': all or unknown settings). */
  changesSettings: string[];
  /** Executes SQL that is not visible here: EXECUTE in PL/pgSQL, dblink, unparsable DO blocks, … */
  dynamicSql: boolean;
}

/** What a session remembers between query strings: PREPARE name AS … for a later EXECUTE name. */
export interface SessionSqlState {
  preparedStatements: Map<string, SqlStatementFacts>;
}

export function newSessionSqlState(): SessionSqlState {
  return { preparedStatements: new Map() };
}

export type SqlFactsResult =
  | { ok: true; statements: { text: string; maskedText: string; facts: SqlStatementFacts }[] }
  | { ok: false; error: string };

const ready = loadModule();

/** Resolves once the parser's WASM module is loaded; sqlFacts is synchronous after that. */
export function sqlParserReady(): Promise<void> {
  return ready;
}

/**
 * Splits a query string into statements (as analyzeSql does) and takes the policy facts of each.
 * With a session state, PREPARE is remembered and EXECUTE carries the prepared statement's facts;
 * the state is only updated when the whole string could be analyzed.
 */
export function sqlFacts(sql: string, state?: SessionSqlState): SqlFactsResult {
  let parsed: { stmts: RawStatement[] };
  try {
    parsed = parseSync(sql) as unknown as { stmts: RawStatement[] };
  } catch (error) {
    if (sql.trim() === '') return { ok: true, statements: [emptyStatement(sql)] };
    return { ok: false, error: `SQL does not parse: ${parseErrorWithoutText(error as Error)}` };
  }
  if (parsed.stmts.length === 0) return { ok: true, statements: [emptyStatement(sql)] };
  const prepared = new Map(state?.preparedStatements ?? []);
  const bytes = Buffer.from(sql, 'utf8');
  let statements: { text: string; maskedText: string; facts: SqlStatementFacts }[];
  try {
    statements = parsed.stmts.map((raw) => {
      // stmt_location and stmt_len are byte offsets into the UTF-8 query string.
      const start = raw.stmt_location ?? 0;
      const end = raw.stmt_len === undefined || raw.stmt_len === 0 ? bytes.length : start + raw.stmt_len;
      const text = bytes.subarray(start, end).toString('utf8').trim();
      const [statementType, node] = unwrap(raw.stmt) ?? ['Unknown', {}];
      const collector = new Collector();
      visitStatement(statementType, node, topContext(prepared, 0), collector);
      return { text, maskedText: maskLiterals(text), facts: collector.finalize(statementType) };
    });
  } catch (error) {
    // E.g. a tree too deep for the JavaScript stack: never guess, refuse.
    return { ok: false, error: `SQL could not be analyzed: ${(error as Error).message}` };
  }
  if (state) {
    state.preparedStatements.clear();
    for (const [name, facts] of prepared) state.preparedStatements.set(name, facts);
  }
  return { ok: true, statements };
}

// ---------------------------------------------------------------------------------------------
// Collection
// ---------------------------------------------------------------------------------------------

interface RawStatement {
  stmt: Record<string, unknown>;
  stmt_location?: number;
  stmt_len?: number;
}

type Rec = Record<string, unknown>;

/** Most privileged last: the statement's `action` is the highest-ranked of its actions. */
const actionRank: Record<SqlAction, number> = {
  'sql:select': 0,
  'sql:insert': 1,
  'sql:update': 2,
  'sql:delete': 3,
  'sql:copy': 4,
  'sql:call': 5,
  'sql:ddl': 6,
  'sql:admin': 7,
};

class Collector {
  readonly actions = new Set<SqlAction>();
  readonly read = new Set<string>();
  readonly written = new Set<string>();
  readonly functions = new Set<string>();
  readonly hidden = new Set<string>();
  readonly settings = new Set<string>();
  hasWhere: boolean | null = null;
  copyProgram = false;
  changesRole = false;
  dynamicSql = false;

  add(action: SqlAction): void {
    this.actions.add(action);
  }

  noteWhere(has: boolean): void {
    this.hasWhere = this.hasWhere === null ? has : this.hasWhere && has;
  }

  merge(facts: SqlStatementFacts): void {
    for (const action of facts.actions) this.actions.add(action);
    for (const table of facts.tablesRead) this.read.add(table);
    for (const table of facts.tablesWritten) this.written.add(table);
    for (const name of facts.functions) this.functions.add(name);
    for (const reason of facts.hiddenWrites) this.hidden.add(reason);
    for (const name of facts.changesSettings) this.settings.add(name);
    if (facts.hasWhere !== null) this.noteWhere(facts.hasWhere);
    this.copyProgram ||= facts.copyProgram;
    this.changesRole ||= facts.changesRole;
    this.dynamicSql ||= facts.dynamicSql;
  }

  finalize(statementType: string): SqlStatementFacts {
    const actions = new Set(this.actions);
    // Reading a table is a select, whatever else the statement does; a statement that does
    // nothing else (SHOW, BEGIN, SET of an ordinary setting, SELECT 1) is a harmless read.
    if (this.read.size > 0 || actions.size === 0) actions.add('sql:select');
    const sortedActions = [...actions].sort();
    const action = sortedActions.reduce((best, next) => (actionRank[next] > actionRank[best] ? next : best));
    return {
      statementType,
      action,
      actions: sortedActions,
      tablesRead: [...this.read].sort(),
      tablesWritten: [...this.written].sort(),
      hasWhere: this.hasWhere,
      functions: [...this.functions].sort(),
      hiddenWrites: [...this.hidden].sort(),
      copyProgram: this.copyProgram,
      changesRole: this.changesRole,
      changesSettings: [...this.settings].sort(),
      dynamicSql: this.dynamicSql,
    };
  }
}

interface Context {
  /** CTE names in scope: a bare relation name equal to one of them is not a table. */
  readonly ctes: ReadonlySet<string>;
  /** What a data-modifying statement met here is nested in ('a CTE', 'COPY', …), for hiddenWrites. */
  readonly container: string | null;
  /** Whether a relation met here is read or written (DDL targets, TRUNCATE lists, …). */
  readonly mode: 'read' | 'write';
  /** Nesting of SQL found in strings (DO bodies, query_to_xml): bounded. */
  readonly depth: number;
  readonly prepared: Map<string, SqlStatementFacts>;
}

const maxNestedDepth = 8;
const noCtes: ReadonlySet<string> = new Set();

function topContext(prepared: Map<string, SqlStatementFacts>, depth: number): Context {
  return { ctes: noCtes, container: null, mode: 'read', depth, prepared };
}

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

/** Statements that only read or touch session state harmlessly. */
const harmlessStatements = new Set([
  'TransactionStmt',
  'VariableShowStmt',
  'ClosePortalStmt',
  'FetchStmt',
  'ListenStmt',
  'UnlistenStmt',
  'NotifyStmt',
  'ConstraintsSetStmt',
]);

/** Administrative statements (server-wide effect, maintenance, availability). */
const adminStatements = new Set(['LoadStmt', 'CheckPointStmt', 'VacuumStmt', 'ClusterStmt', 'ReindexStmt', 'LockStmt']);

/** Schema and privilege changes whose node names do not start with Create/Alter/Drop. */
const otherDdlStatements = new Set([
  'CommentStmt',
  'GrantStmt',
  'GrantRoleStmt',
  'RenameStmt',
  'IndexStmt',
  'DefineStmt',
  'CompositeTypeStmt',
  'ViewStmt',
  'RuleStmt',
  'SecLabelStmt',
  'ImportForeignSchemaStmt',
  'ReassignOwnedStmt',
  'RefreshMatViewStmt',
  'CreatedbStmt',
  'ReplicaIdentityStmt',
  'CreateTableAsStmt',
]);

function isDdl(type: string): boolean {
  return (
    otherDdlStatements.has(type) ||
    ((type.startsWith('Create') || type.startsWith('Alter') || type.startsWith('Drop')) && type !== 'AlterSystemStmt')
  );
}

const droppedRelationKinds = new Set([
  'OBJECT_TABLE',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_FOREIGN_TABLE',
  'OBJECT_SEQUENCE',
  'OBJECT_INDEX',
]);

function visitStatement(type: string, node: Rec, ctx: Context, c: Collector): void {
  switch (type) {
    case 'SelectStmt':
      return visitSelect(node, ctx, c);
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return visitModify(type, node, ctx, c);
    case 'TruncateStmt':
      c.add('sql:delete');
      c.noteWhere(false); // every row goes: policy on "DELETE without WHERE" must see TRUNCATE too
      return visitChildren(node, { ...ctx, mode: 'write' }, c);
    case 'CopyStmt':
      return visitCopy(node, ctx, c);
    case 'ExplainStmt':
      return visitExplain(node, ctx, c);
    case 'PrepareStmt':
      return visitPrepare(node, ctx, c);
    case 'ExecuteStmt':
      return visitExecute(node, ctx, c);
    case 'DeallocateStmt':
      if (node.isall === true || typeof node.name !== 'string') ctx.prepared.clear();
      else ctx.prepared.delete(node.name);
      return;
    case 'DeclareCursorStmt':
      return visit(node.query, { ...ctx, mode: 'read' }, c);
    case 'CallStmt':
      c.add('sql:call');
      if (isRecord(node.funccall)) visitFuncCall(node.funccall, ctx, c);
      return;
    case 'DoStmt':
      return visitDo(node, ctx, c);
    case 'VariableSetStmt':
      return visitSet(node, c);
    case 'AlterSystemStmt':
      c.add('sql:admin');
      if (isRecord(node.setstmt)) settingsOf(node.setstmt, c);
      return;
    case 'DiscardStmt':
      if (node.target === 'DISCARD_ALL') {
        // DISCARD ALL = SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; …
        c.add('sql:admin');
        c.changesRole = true;
        c.settings.add('*');
        ctx.prepared.clear();
      }
      return;
    case 'LockStmt':
      c.add('sql:admin');
      return visitChildren(node, { ...ctx, mode: 'read' }, c);
    case 'CreateTableAsStmt':
      c.add('sql:ddl');
      if (isRecord(node.into)) addRelation(node.into.rel, 'write', ctx, c);
      return visit(node.query, { ...ctx, mode: 'read' }, c);
    case 'DropStmt':
      c.add('sql:ddl');
      if (droppedRelationKinds.has(String(node.removeType))) {
        for (const object of asArray(node.objects)) {
          const names = asArray(unwrapAs(object, 'List')?.items).map(stringValue);
          if (names.length > 0 && names.every((name) => name !== undefined)) c.written.add(names.join('.'));
        }
      }
      return;
  }
  if (harmlessStatements.has(type)) return visitChildren(node, { ...ctx, mode: 'read' }, c);
  if (adminStatements.has(type)) {
    c.add('sql:admin');
    return visitChildren(node, { ...ctx, mode: 'write' }, c);
  }
  if (isDdl(type)) {
    c.add('sql:ddl');
    return visitChildren(node, { ...ctx, mode: 'write' }, c);
  }
  // A statement kind this module does not know: fail safe.
  c.add('sql:admin');
  visitChildren(node, ctx, c);
}

function visitSelect(node: Rec, outer: Context, c: Collector): void {
  const ctx = withScope(node.withClause, { ...outer, mode: 'read' }, c);
  if (isRecord(node.intoClause)) {
    // SELECT … INTO new_table creates a table.
    c.add('sql:ddl');
    addRelation(node.intoClause.rel, 'write', ctx, c);
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'withClause' || key === 'intoClause') continue;
    // The branches of a set operation are bare SelectStmts.
    if ((key === 'larg' || key === 'rarg') && isRecord(value)) visitSelect(value, ctx, c);
    else visit(value, ctx, c);
  }
}

const verbs: Record<string, string> = { InsertStmt: 'INSERT', UpdateStmt: 'UPDATE', DeleteStmt: 'DELETE', MergeStmt: 'MERGE' };

function visitModify(type: string, node: Rec, outer: Context, c: Collector): void {
  const ctx = withScope(node.withClause, { ...outer, mode: 'read' }, c);
  if (outer.container) c.hidden.add(`${verbs[type]} inside ${outer.container}`);
  if (type === 'InsertStmt') c.add('sql:insert');
  if (type === 'UpdateStmt') c.add('sql:update');
  if (type === 'DeleteStmt') c.add('sql:delete');
  if (type === 'UpdateStmt' || type === 'DeleteStmt') c.noteWhere(node.whereClause !== undefined && node.whereClause !== null);
  if (type === 'MergeStmt') {
    for (const clause of asArray(node.mergeWhenClauses)) {
      const command = unwrapAs(clause, 'MergeWhenClause')?.commandType;
      if (command === 'CMD_INSERT') c.add('sql:insert');
      else if (command === 'CMD_UPDATE') c.add('sql:update');
      else if (command === 'CMD_DELETE') c.add('sql:delete');
    }
  }
  if (type === 'InsertStmt' && isRecord(node.onConflictClause) && node.onConflictClause.action === 'ONCONFLICT_UPDATE') {
    c.add('sql:update');
  }
  addRelation(node.relation, 'write', ctx, c);
  // RETURNING hands the target's rows back: that is a read of the target.
  if (node.returningClause !== undefined) addRelation(node.relation, 'read', { ...ctx, ctes: noCtes }, c);
  for (const [key, value] of Object.entries(node)) {
    if (key !== 'withClause' && key !== 'relation') visit(value, ctx, c);
  }
}

function visitCopy(node: Rec, ctx: Context, c: Collector): void {
  c.add('sql:copy');
  const from = node.is_from === true;
  if (from) c.add('sql:insert');
  if (node.is_program === true) {
    // Runs a shell command on the database server.
    c.copyProgram = true;
    c.add('sql:admin');
  } else if (typeof node.filename === 'string') {
    // Reads or writes a file on the database server (pg_read/write_server_files).
    c.add('sql:admin');
  }
  addRelation(node.relation, from ? 'write' : 'read', ctx, c);
  visit(node.query, { ...ctx, mode: 'read', container: 'COPY' }, c);
  visit(node.whereClause, { ...ctx, mode: 'read' }, c);
  visit(node.options, { ...ctx, mode: 'read' }, c);
}

function visitExplain(node: Rec, ctx: Context, c: Collector): void {
  const inner = unwrap(node.query);
  if (!inner) return;
  if (explainAnalyzes(node.options)) {
    // EXPLAIN ANALYZE runs the statement: it does everything the statement does.
    visitStatement(inner[0], inner[1], { ...ctx, mode: 'read', container: 'EXPLAIN ANALYZE' }, c);
    return;
  }
  // Plain EXPLAIN only plans: a read of the statement's tables.
  const sub = new Collector();
  visitStatement(inner[0], inner[1], { ...ctx, mode: 'read', container: null }, sub);
  const facts = sub.finalize(inner[0]);
  for (const table of [...facts.tablesRead, ...facts.tablesWritten]) c.read.add(table);
  for (const name of facts.functions) c.functions.add(name);
}

function explainAnalyzes(options: unknown): boolean {
  for (const option of asArray(options)) {
    const def = unwrapAs(option, 'DefElem');
    if (!def || (def.defname !== 'analyze' && def.defname !== 'analyse')) continue;
    if (def.arg === undefined) return true;
    const value = constantText(def.arg)?.toLowerCase();
    // Anything but an explicit false is taken as true: fail safe.
    if (value !== 'false' && value !== 'off' && value !== '0' && value !== 'no') return true;
  }
  return false;
}

function visitPrepare(node: Rec, ctx: Context, c: Collector): void {
  const inner = unwrap(node.query);
  if (!inner) return;
  const sub = new Collector();
  visitStatement(inner[0], inner[1], { ...ctx, mode: 'read', container: null }, sub);
  const facts = sub.finalize(inner[0]);
  if (typeof node.name === 'string') ctx.prepared.set(node.name, facts);
  c.merge(facts);
}

function visitExecute(node: Rec, ctx: Context, c: Collector): void {
  const name = typeof node.name === 'string' ? node.name : '';
  const prepared = ctx.prepared.get(name);
  if (prepared) {
    c.merge(prepared);
    if (prepared.actions.some((action) => action !== 'sql:select')) c.hidden.add(`EXECUTE of prepared statement ${name}`);
  } else {
    // Prepared where this gateway could not see it: fail safe.
    c.add('sql:admin');
    c.hidden.add('EXECUTE of an unknown prepared statement');
  }
  visit(node.params, { ...ctx, mode: 'read' }, c);
}

const roleSettings = new Set(['role', 'session_authorization']);

function visitSet(node: Rec, c: Collector): void {
  settingsOf(node, c);
  const name = typeof node.name === 'string' ? node.name.toLowerCase() : '';
  if (roleSettings.has(name)) {
    c.changesRole = true;
    c.add('sql:admin');
  }
}

function settingsOf(node: Rec, c: Collector): void {
  if (node.kind === 'VAR_RESET_ALL') {
    c.settings.add('*');
    return;
  }
  const name = typeof node.name === 'string' ? node.name.toLowerCase() : '';
  if (node.kind === 'VAR_SET_MULTI') {
    // SET TRANSACTION …, SET SESSION CHARACTERISTICS AS TRANSACTION …: one DefElem per setting.
    const prefix = name === 'session characteristics' ? 'default_' : '';
    let found = false;
    for (const arg of asArray(node.args)) {
      const def = unwrapAs(arg, 'DefElem');
      if (typeof def?.defname === 'string') {
        c.settings.add(prefix + def.defname.toLowerCase());
        found = true;
      }
    }
    if (!found) c.settings.add(name.split(' ').join('_'));
    return;
  }
  if (name) c.settings.add(name);
}

// ---------------------------------------------------------------------------------------------
// Generic walk
// ---------------------------------------------------------------------------------------------

function visit(value: unknown, ctx: Context, c: Collector): void {
  if (Array.isArray(value)) {
    for (const item of value) visit(item, ctx, c);
    return;
  }
  if (!isRecord(value)) return;
  const wrapped = unwrap(value);
  if (wrapped) {
    visitNode(wrapped[0], wrapped[1], ctx, c);
    return;
  }
  // A RangeVar is bare where a field's type is fixed (CreateStmt.relation, …).
  if (typeof value.relname === 'string') {
    addRelation(value, ctx.mode, ctx, c);
    return;
  }
  visitChildren(value, ctx, c);
}

function visitNode(type: string, node: Rec, ctx: Context, c: Collector): void {
  if (type.endsWith('Stmt')) return visitStatement(type, node, ctx, c);
  switch (type) {
    case 'RangeVar':
      return addRelation(node, ctx.mode, ctx, c);
    case 'FuncCall':
      return visitFuncCall(node, ctx, c);
    case 'TableLikeClause': // CREATE TABLE t (LIKE source): source is read
      return visitChildren(node, { ...ctx, mode: 'read' }, c);
    case 'Constraint': // REFERENCES other(id): other is read
      for (const [key, value] of Object.entries(node)) {
        visit(value, key === 'pktable' ? { ...ctx, mode: 'read' } : ctx, c);
      }
      return;
    default:
      return visitChildren(node, ctx, c);
  }
}

function visitChildren(node: Rec, ctx: Context, c: Collector): void {
  for (const value of Object.values(node)) visit(value, ctx, c);
}

/** Opens a WITH clause: visits its CTEs and returns the scope (CTE names) for the rest of the statement. */
function withScope(withClause: unknown, ctx: Context, c: Collector): Context {
  if (!isRecord(withClause)) return ctx;
  const ctes = asArray(withClause.ctes)
    .map((cte) => unwrapAs(cte, 'CommonTableExpr'))
    .filter((cte): cte is Rec => cte !== undefined);
  const all = new Set(ctx.ctes);
  for (const cte of ctes) if (typeof cte.ctename === 'string') all.add(cte.ctename);
  // WITH RECURSIVE: every CTE sees every name; otherwise a CTE sees only the earlier ones.
  const visible = withClause.recursive === true ? all : new Set(ctx.ctes);
  for (const cte of ctes) {
    visit(cte.ctequery, { ...ctx, ctes: new Set(visible), container: 'a CTE', mode: 'read' }, c);
    if (typeof cte.ctename === 'string') visible.add(cte.ctename);
  }
  return { ...ctx, ctes: all };
}

function addRelation(relation: unknown, mode: 'read' | 'write', ctx: Context, c: Collector): void {
  if (!isRecord(relation) || typeof relation.relname !== 'string') return;
  const parts = [relation.catalogname, relation.schemaname, relation.relname].filter(
    (part): part is string => typeof part === 'string' && part !== '',
  );
  if (mode === 'read' && parts.length === 1 && ctx.ctes.has(relation.relname)) return; // a CTE, not a table
  (mode === 'write' ? c.written : c.read).add(parts.join('.'));
}

// ---------------------------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------------------------

/** Functions that act on the server beyond the query: files, other backends, configuration, remote SQL. */
const adminFunctions = new Set([
  'pg_read_file',
  'pg_read_binary_file',
  'pg_ls_dir',
  'pg_stat_file',
  'pg_ls_logdir',
  'pg_ls_waldir',
  'pg_ls_tmpdir',
  'pg_ls_archive_statusdir',
  'pg_ls_logicalsnapdir',
  'pg_ls_logicalmapdir',
  'pg_ls_replslotdir',
  'pg_file_write',
  'pg_file_unlink',
  'pg_file_rename',
  'pg_file_sync',
  'pg_logdir_ls',
  'lo_import',
  'lo_export',
  'dblink',
  'dblink_exec',
  'dblink_connect',
  'dblink_connect_u',
  'dblink_send_query',
  'dblink_open',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_promote',
  'pg_switch_wal',
  'pg_create_restore_point',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_create_physical_replication_slot',
  'pg_create_logical_replication_slot',
  'pg_drop_replication_slot',
  'pg_log_backend_memory_contexts',
  'pg_wal_replay_pause',
  'pg_wal_replay_resume',
]);

/** Functions that write data although they are called from a SELECT. */
const writingFunctions = new Set([
  'nextval',
  'setval',
  'lo_import',
  'lo_export',
  'lo_unlink',
  'lo_create',
  'lo_creat',
  'lo_from_bytea',
  'lo_put',
  'lowrite',
  'lo_truncate',
  'dblink_exec',
  'pg_file_write',
  'pg_file_unlink',
  'pg_file_rename',
]);

/** Functions that run SQL this module cannot see (remote, or read whole schemas). */
const dynamicFunctions = new Set([
  'dblink',
  'dblink_exec',
  'dblink_send_query',
  'dblink_open',
  'exec',
  'exec_sql',
  'execute_sql',
  'eval',
  'run_sql',
  'schema_to_xml',
  'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema',
  'database_to_xml',
  'database_to_xmlschema',
  'database_to_xml_and_xmlschema',
]);

/** Functions that run a SQL string given as an argument (index of that argument). */
const sqlStringFunctions: Record<string, number> = {
  query_to_xml: 0,
  query_to_xmlschema: 0,
  query_to_xml_and_xmlschema: 0,
  ts_stat: 0,
};

/** Functions that read a whole table named by a regclass argument. */
const tableNameFunctions = new Set(['table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema']);

function visitFuncCall(node: Rec, ctx: Context, c: Collector): void {
  const names = asArray(node.funcname).map(stringValue);
  const qualified = names.map((name) => name ?? '?').join('.').toLowerCase();
  const base = (names.at(-1) ?? '').toLowerCase();
  c.functions.add(qualified);
  // Effects are looked up by the function's own name whatever its schema: a look-alike in another
  // schema is treated like the real one (fail safe).
  if (adminFunctions.has(base)) c.add('sql:admin');
  if (writingFunctions.has(base)) c.hidden.add(`function call may write: ${qualified}`);
  if (dynamicFunctions.has(base)) {
    c.dynamicSql = true;
    c.hidden.add(`function executes SQL that cannot be analyzed: ${qualified}`);
  }
  if (base === 'set_config') {
    const setting = constantArg(node, 0, 'setting_name')?.toLowerCase();
    if (setting === undefined) {
      c.settings.add('*');
      c.changesRole = true;
      c.add('sql:admin');
    } else {
      c.settings.add(setting);
      if (roleSettings.has(setting)) {
        c.changesRole = true;
        c.add('sql:admin');
      }
    }
  }
  if (base === 'nextval' || base === 'setval') {
    c.add('sql:update');
    const sequence = constantArg(node, 0);
    if (sequence !== undefined) c.written.add(qualifiedNameFromText(sequence));
  }
  const sqlIndex = sqlStringFunctions[base] ?? (base === 'ts_rewrite' && asArray(node.args).length === 2 ? 1 : undefined);
  if (sqlIndex !== undefined) {
    const text = constantArg(node, sqlIndex);
    if (text === undefined || !analyzeNestedSql(text, ctx, c, `function ${qualified}`)) {
      c.dynamicSql = true;
      c.hidden.add(`function executes SQL that cannot be analyzed: ${qualified}`);
    }
  }
  if (tableNameFunctions.has(base)) {
    const table = constantArg(node, 0, 'tbl');
    if (table !== undefined) c.read.add(qualifiedNameFromText(table));
    else c.dynamicSql = true;
  }
  for (const [key, value] of Object.entries(node)) {
    if (key !== 'funcname') visit(value, { ...ctx, mode: 'read' }, c);
  }
}

/** The constant text of argument `index` (or of the argument named `name`), through casts. */
function constantArg(call: Rec, index: number, name?: string): string | undefined {
  const args = asArray(call.args);
  if (name !== undefined) {
    for (const arg of args) {
      const named = unwrapAs(arg, 'NamedArgExpr');
      if (named && named.name === name) return constantText(named.arg);
    }
  }
  const arg = args[index];
  if (arg === undefined || unwrapAs(arg, 'NamedArgExpr')) return undefined;
  return constantText(arg);
}

function constantText(value: unknown): string | undefined {
  const cast = unwrapAs(value, 'TypeCast');
  if (cast) return constantText(cast.arg);
  const constant = unwrapAs(value, 'A_Const');
  if (constant) {
    if (isRecord(constant.sval) && typeof constant.sval.sval === 'string') return constant.sval.sval;
    if (isRecord(constant.ival)) return String(constant.ival.ival ?? 0);
    if (isRecord(constant.boolval)) return String(constant.boolval.boolval === true);
    return undefined;
  }
  const string = unwrapAs(value, 'String');
  if (string && typeof string.sval === 'string') return string.sval;
  const boolean = unwrapAs(value, 'Boolean');
  if (boolean) return String(boolean.boolval === true);
  const integer = unwrapAs(value, 'Integer');
  if (integer) return String(integer.ival ?? 0);
  return undefined;
}

/** A regclass literal ('public."My Seq"') as PostgreSQL reads it: unquoted parts fold to lower case. */
function qualifiedNameFromText(text: string): string {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        current += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else current += ch;
    } else if (ch === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (ch === '.') {
      parts.push(current);
      current = '';
      wasQuoted = false;
    } else if (ch !== ' ' || wasQuoted) {
      current += wasQuoted ? ch : ch.toLowerCase();
    }
  }
  parts.push(current);
  return parts.join('.');
}

// ---------------------------------------------------------------------------------------------
// SQL in strings: DO blocks (PL/pgSQL) and functions that execute a query string
// ---------------------------------------------------------------------------------------------

/** Analyzes a SQL string into `into`. False when it does not parse or is nested too deeply. */
function analyzeNestedSql(sql: string, ctx: Context, into: Collector, container: string | null = null): boolean {
  if (ctx.depth >= maxNestedDepth) return false;
  let parsed: { stmts: RawStatement[] };
  try {
    parsed = parseSync(sql) as unknown as { stmts: RawStatement[] };
  } catch {
    return false;
  }
  for (const raw of parsed.stmts) {
    const statement = unwrap(raw.stmt);
    if (statement) visitStatement(statement[0], statement[1], { ...topContext(ctx.prepared, ctx.depth + 1), container }, into);
  }
  return true;
}

function visitDo(node: Rec, ctx: Context, c: Collector): void {
  c.add('sql:call');
  let body: string | undefined;
  let language = 'plpgsql';
  for (const arg of asArray(node.args)) {
    const def = unwrapAs(arg, 'DefElem');
    const value = def ? constantText(def.arg) : undefined;
    if (def?.defname === 'as') body = value;
    else if (def?.defname === 'language' && value !== undefined) language = value.toLowerCase();
  }
  const opaque = (reason: string) => {
    c.dynamicSql = true;
    c.hidden.add(`DO block ${reason}; treated as dynamic SQL`);
  };
  if (language !== 'plpgsql') return opaque(`in language ${language} cannot be analyzed`);
  if (body === undefined) return opaque('has no body that can be analyzed');
  if (ctx.depth >= maxNestedDepth) return opaque('is nested too deeply to analyze');
  let tree: unknown;
  try {
    tree = parsePlPgSQLSync(wrapDoBody(body));
  } catch (error) {
    return opaque(`could not be parsed (${(error as Error).message})`);
  }
  const functions = asArray(isRecord(tree) ? tree.plpgsql_funcs : undefined);
  if (functions.length !== 1) return opaque('could not be parsed as one block');

  const sub = new Collector();
  const nested: Context = { ...ctx, depth: ctx.depth + 1 };
  const seen = new Set<string>();
  let dynamic = false;
  let unparsed = false;
  const onExpression = (expression: Rec) => {
    const query = expression.query;
    if (typeof query !== 'string') return;
    const key = `${String(expression.parseMode)}\u0000${query}`;
    if (seen.has(key)) return; // datums appear again where they are used
    seen.add(key);
    for (const text of embeddedSqlTexts(query, expression.parseMode)) {
      if (!analyzeNestedSql(text, nested, sub)) unparsed = true;
    }
  };
  const walkPlpgsql = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walkPlpgsql(item);
      return;
    }
    if (!isRecord(value)) return;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'PLpgSQL_stmt_dynexecute' || key === 'PLpgSQL_stmt_dynfors' || key === 'dynquery') {
        dynamic = true;
        // EXECUTE 'literal': the literal is SQL that can still be read.
        const expression = isRecord(child) ? (key === 'dynquery' ? unwrapAs(child, 'PLpgSQL_expr') : unwrapAs(child.query, 'PLpgSQL_expr')) : undefined;
        const literal = typeof expression?.query === 'string' ? literalOfExpression(expression.query) : undefined;
        if (literal !== undefined) analyzeNestedSql(literal, nested, sub);
      }
      if (key === 'PLpgSQL_expr' && isRecord(child)) onExpression(child);
      walkPlpgsql(child);
    }
  };
  walkPlpgsql(functions[0]);

  const facts = sub.finalize('DoStmt');
  c.merge(facts);
  for (const table of facts.tablesWritten) c.hidden.add(`DO block writes to ${table}`);
  if (dynamic) {
    c.dynamicSql = true;
    c.hidden.add('DO block executes dynamic SQL');
  }
  if (unparsed) opaque('contains SQL that could not be parsed');
}

/**
 * parsePlPgSQLSync takes the text of a CREATE FUNCTION statement, not a bare body: wrap the DO body
 * in one, dollar-quoted with a tag that does not occur in the body (so the body cannot close it).
 */
function wrapDoBody(body: string): string {
  let tag = 'warden';
  while (body.includes(`$${tag}`)) tag += '_';
  return `CREATE FUNCTION pg_temp.warden_do() RETURNS void LANGUAGE plpgsql AS $${tag}$${body}$${tag}$`;
}

/**
 * The SQL texts to parse for one PL/pgSQL expression. parseMode is PostgreSQL's RawParseMode:
 * 0 a whole statement, 1 a type name, 2 an expression (a SELECT target list with optional FROM …),
 * 3–5 an assignment `target := expression`.
 */
function embeddedSqlTexts(query: string, parseMode: unknown): string[] {
  switch (parseMode) {
    case 0:
    case undefined:
      return [query];
    case 1:
      return [];
    case 2:
      return [`SELECT ${query}`];
    case 3:
    case 4:
    case 5: {
      const split = splitAssignment(query);
      if (!split) return [query]; // will not parse: reported as unanalyzable
      // Subscripts of the target (arr[(SELECT …)] := …) are expressions too.
      return split.target.includes('[') ? [`SELECT ${split.value}`, `SELECT ${split.target}`] : [`SELECT ${split.value}`];
    }
    default:
      return [query];
  }
}

/** Splits `target := value` (or `target = value`) at the first top-level assignment token. */
function splitAssignment(query: string): { target: string; value: string } | undefined {
  let tokens: { start: number; end: number; text: string }[];
  try {
    tokens = scanSync(query).tokens;
  } catch {
    return undefined;
  }
  const bytes = Buffer.from(query, 'utf8');
  let depth = 0;
  for (const token of tokens) {
    if (token.text === '(' || token.text === '[') depth++;
    else if (token.text === ')' || token.text === ']') depth--;
    else if (depth === 0 && (token.text === ':=' || token.text === '=')) {
      return {
        target: bytes.subarray(0, token.start).toString('utf8'),
        value: bytes.subarray(token.end).toString('utf8'),
      };
    }
  }
  return undefined;
}

/** The string when a PL/pgSQL expression is one string literal ('DELETE FROM t'), else undefined. */
function literalOfExpression(expression: string): string | undefined {
  try {
    const parsed = parseSync(`SELECT ${expression}`) as unknown as { stmts: RawStatement[] };
    const select = unwrapAs(parsed.stmts[0]?.stmt, 'SelectStmt');
    const targets = asArray(select?.targetList);
    if (targets.length !== 1 || select?.fromClause !== undefined) return undefined;
    return constantText(unwrapAs(targets[0], 'ResTarget')?.val);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function emptyStatement(text: string): { text: string; maskedText: string; facts: SqlStatementFacts } {
  return { text, maskedText: '', facts: new Collector().finalize('EmptyQuery') };
}

/**
 * The parser quotes the token it stopped at (`syntax error at or near "'4111…'"`), often a
 * literal: the reason is recorded and shown, so it names the position instead.
 */
function parseErrorWithoutText(error: Error & { sqlDetails?: { cursorPosition?: number } }): string {
  const message = error.message.replace(/ at or near ".*"$/s, '');
  const position = error.sqlDetails?.cursorPosition;
  return position === undefined || message === error.message ? message : `${message} at character ${position + 1}`;
}

function maskLiterals(statement: string): string {
  try {
    return maskRemainingConstants(normalizeSync(statement));
  } catch {
    // The statement parsed as part of the whole string, so this is not expected; never fall back to the raw text.
    return '[statement text withheld: literals could not be masked]';
  }
}

/**
 * normalize replaces constants only where PostgreSQL's query jumbling looks; in utility statements
 * (CREATE TABLE … AS, CREATE VIEW, ALTER … SET DEFAULT, COMMENT ON, PREPARE) it leaves them as
 * written. Every constant token still there becomes the next parameter number. Bit, hex and
 * Unicode-escape strings (B'…', X'…', U&'…') scan without a constant's name, but with a quote.
 */
function maskRemainingConstants(normalized: string): string {
  if (!MAY_HOLD_CONSTANT.test(normalized)) return normalized;
  const tokens = scanSync(normalized).tokens;
  const constants = tokens.filter((token) => CONSTANT_TOKENS.has(token.tokenName) || token.text.includes("'"));
  if (constants.length === 0) return normalized;
  let next = tokens.reduce((highest, token) => (token.tokenName === 'PARAM' ? Math.max(highest, Number(token.text.slice(1))) : highest), 0) + 1;
  const bytes = Buffer.from(normalized, 'utf8');
  let masked = '';
  let at = 0;
  for (const constant of constants) {
    masked += `${bytes.subarray(at, constant.start).toString('utf8')}$${next++}`;
    at = constant.end;
  }
  return masked + bytes.subarray(at).toString('utf8');
}

const CONSTANT_TOKENS = new Set(['SCONST', 'ICONST', 'FCONST', 'BCONST', 'XCONST', 'USCONST']);
/** A quote, a dollar quote, or a digit that starts a token (not in a name, not a $n): most normalized statements have none, and skip the scan. */
const MAY_HOLD_CONSTANT = /'|\$[A-Za-z_]*\$|(?<![\w$])\d/;

/** A wrapped parse node `{ TypeName: {…} }` as [TypeName, fields]; undefined for anything else. */
function unwrap(value: unknown): [string, Rec] | undefined {
  if (!isRecord(value)) return undefined;
  let found: [string, Rec] | undefined;
  for (const key in value) {
    if (found) return undefined; // more than one key: a bare node, not a wrapper
    const inner = value[key];
    const first = key.charCodeAt(0);
    if (first < 65 || first > 90 || !isRecord(inner)) return undefined;
    found = [key, inner];
  }
  return found;
}

function unwrapAs(value: unknown, type: string): Rec | undefined {
  if (!isRecord(value)) return undefined;
  const inner = value[type];
  return isRecord(inner) ? inner : undefined;
}

function stringValue(value: unknown): string | undefined {
  const string = unwrapAs(value, 'String');
  return string && typeof string.sval === 'string' ? string.sval : undefined;
}

function isRecord(value: unknown): value is Rec {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
