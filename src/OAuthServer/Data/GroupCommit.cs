using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace OAuthServer.Data;

/// <summary>
/// Group commit for the token path's writes on PostgreSQL: the new rows that concurrent requests have finished adding
/// (one multi-row <c>INSERT</c> per table) and their single-row conditional updates (a redemption) go together in one
/// batch, which PostgreSQL runs as one implicit transaction with one commit. Each request goes on only once the batch
/// holding its writes is committed, with its own update's row count.
/// </summary>
/// <remarks>
/// <para>
/// Note: with synchronous commits, every token request paid for a commit of its own (the WAL flush and
/// <c>fdatasync</c> were a quarter of PostgreSQL's CPU under client_credentials, its foreign-key and executor start-up
/// per statement much of the rest), and for EF's SaveChanges around one INSERT (~12 % of the server's CPU, issue 15).
/// Here a batch goes out as soon as the previous one is back, so a lone request waits for nobody, and the requests
/// that arrived meanwhile share the next commit.
/// </para>
/// <para>
/// A request's writes are never split: they are in one batch, so all of them are committed or none. Within a batch
/// the statements run in order, so of two redemptions of one token in the same batch the first changes the row and
/// the second finds it no longer valid, exactly as if they had come one after the other. Updates go in the order of
/// their rows' keys, so two nodes' batches never wait on each other's rows in opposite orders.
/// </para>
/// <para>
/// If PostgreSQL refuses a batch of several requests (one request's authorization deleted meanwhile, say), it has
/// rolled the whole batch back, and each request's writes go again alone, so one request's refusal is never
/// another's. Any other failure (the connection lost) leaves it unknown whether the batch committed, so nothing is
/// sent again and every request of the batch fails: a redemption repeated after its commit would look like a replay.
/// </para>
/// <para>
/// SQLite (a single writer, the embedded default), a request inside a transaction of its own and an audited context
/// keep EF: <see cref="TryInsertAsync"/> returns false, <see cref="TryUpdateAsync"/> null.
/// </para>
/// </remarks>
internal sealed class GroupCommit(string? postgresConnectionString)
{
    // Note: bounds a statement's parameters (PostgreSQL allows 65,535) and a batch's size; writes beyond it wait for
    // the next batch.
    private const int MaxRowsPerBatch = 128;

    private readonly Lock _gate = new();
    private List<Pending> _queued = [];
    private bool _draining;

    private bool Accepts(DbContext db) =>
        postgresConnectionString is not null && db.Database.CurrentTransaction is null && db is not OAuthDbContext { Audit.Actor: not null };

    /// <summary>
    /// Inserts the rows of <paramref name="entries"/> (all <see cref="EntityState.Added"/>, of one request) and
    /// marks them unchanged once they are committed; false, with nothing written, when they must go through
    /// SaveChanges instead.
    /// </summary>
    public async Task<bool> TryInsertAsync(DbContext db, IReadOnlyList<EntityEntry> entries)
    {
        if (!Accepts(db) || entries.Count == 0)
        {
            return false;
        }

        var rows = new Row[entries.Count];
        for (var index = 0; index < entries.Count; index++)
        {
            var entry = entries[index];
            if (entry.State != EntityState.Added || InsertPlan.For(entry.Metadata, db) is not { } plan || plan.Snapshot(entry) is not { } values)
            {
                return false;
            }

            rows[index] = new(plan, values);
        }

        // Note: not abandoned when the request is cancelled: the rows may be on their way, and the context must
        // know whether they were written. A batch is bounded by the command timeout.
        await Enqueue(new(rows, update: null));
        foreach (var entry in entries)
        {
            entry.State = EntityState.Unchanged;
        }

        return true;
    }

    /// <summary>
    /// Runs <paramref name="statement"/>, an <c>UPDATE</c> of at most one row with positional parameters ($1, $2,
    /// ...), in the next batch and returns the number of rows it changed; null, with nothing run, when it must go
    /// through EF instead. <paramref name="rowKey"/> is the key of the row it changes (the order of a batch's updates).
    /// </summary>
    public async Task<int?> TryUpdateAsync(DbContext db, string statement, string rowKey, object[] parameters)
    {
        if (!Accepts(db))
        {
            return null;
        }

        return await Enqueue(new([], new(statement, rowKey, parameters)));
    }

    private Task<int> Enqueue(Pending pending)
    {
        bool lead;
        lock (_gate)
        {
            _queued.Add(pending);
            lead = !_draining;
            _draining = true;
        }

        if (lead)
        {
            _ = DrainAsync();
        }

        return pending.Done.Task;
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            List<Pending> batch;
            lock (_gate)
            {
                if (_queued.Count == 0)
                {
                    _draining = false;
                    return;
                }

                batch = TakeBatch();
            }

            await WriteAsync(batch);
        }
    }

    // Called under the lock. At least one request, and whole requests only.
    private List<Pending> TakeBatch()
    {
        var rows = 0;
        var count = 0;
        while (count < _queued.Count && (count == 0 || rows + _queued[count].Size <= MaxRowsPerBatch))
        {
            rows += _queued[count].Size;
            count++;
        }

        if (count == _queued.Count)
        {
            var all = _queued;
            _queued = [];
            return all;
        }

        var batch = _queued.GetRange(0, count);
        _queued.RemoveRange(0, count);
        return batch;
    }

    // Never throws: every request of the batch gets its outcome.
    private async Task WriteAsync(List<Pending> batch)
    {
        try
        {
            await SendAsync(batch);
            foreach (var pending in batch)
            {
                pending.Done.TrySetResult(pending.Affected);
            }

            return;
        }
        catch (PostgresException) when (batch.Count > 1)
        {
            // PostgreSQL refused a statement and rolled the whole batch back (one implicit transaction): each
            // request's writes go again alone.
        }
        catch (Exception exception)
        {
            foreach (var pending in batch)
            {
                pending.Done.TrySetException(Refused(exception));
            }

            return;
        }

        foreach (var pending in batch)
        {
            try
            {
                await SendAsync([pending]);
                pending.Done.TrySetResult(pending.Affected);
            }
            catch (Exception exception)
            {
                pending.Done.TrySetException(Refused(exception));
            }
        }
    }

    // Note: the same kind of failure SaveChanges reports, so callers see no difference between the two paths.
    private static DbUpdateException Refused(Exception exception) =>
        exception as DbUpdateException ?? new DbUpdateException("An error occurred while saving the token path's writes.", exception);

    private async Task SendAsync(List<Pending> batch)
    {
        var byPlan = new Dictionary<InsertPlan, List<object?[]>>();
        var updates = new List<Pending>();
        foreach (var pending in batch)
        {
            if (pending.Update is not null)
            {
                updates.Add(pending);
            }

            foreach (var row in pending.Rows)
            {
                if (!byPlan.TryGetValue(row.Plan, out var values))
                {
                    byPlan[row.Plan] = values = [];
                }

                values.Add(row.Values);
            }
        }

        await using var connection = new NpgsqlConnection(postgresConnectionString);
        await connection.OpenAsync(CancellationToken.None);
        await using var command = new NpgsqlBatch(connection);

        // Referenced tables first: an authorization before the tokens that point to it.
        foreach (var (plan, rows) in byPlan.OrderBy(group => group.Key.Depth))
        {
            var statement = new NpgsqlBatchCommand(plan.Statement(rows.Count));
            foreach (var values in rows)
            {
                plan.AddParameters(statement.Parameters, values);
            }

            command.BatchCommands.Add(statement);
        }

        updates.Sort((left, right) => string.CompareOrdinal(left.Update!.RowKey, right.Update!.RowKey));
        var first = command.BatchCommands.Count;
        foreach (var pending in updates)
        {
            var statement = new NpgsqlBatchCommand(pending.Update!.Statement);
            foreach (var value in pending.Update.Parameters)
            {
                statement.Parameters.Add(new NpgsqlParameter { Value = value });
            }

            command.BatchCommands.Add(statement);
        }

        await command.ExecuteNonQueryAsync(CancellationToken.None);
        for (var index = 0; index < updates.Count; index++)
        {
            updates[index].Affected = checked((int)command.BatchCommands[first + index].RecordsAffected);
        }
    }

    private sealed class Pending(Row[] rows, Update? update)
    {
        public Row[] Rows { get; } = rows;

        public Update? Update { get; } = update;

        public int Size => Rows.Length + (Update is null ? 0 : 1);

        /// <summary>The rows the update changed, once its batch is committed.</summary>
        public int Affected { get; set; }

        public TaskCompletionSource<int> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly record struct Row(InsertPlan Plan, object?[] Values);

    private sealed record Update(string Statement, string RowKey, object[] Parameters);

    /// <summary>
    /// How one entity type's rows are inserted: its table, every mapped column, each column's type mapping (the one
    /// SaveChanges uses, with its value converter), and the multi-row statement for each batch size.
    /// </summary>
    private sealed class InsertPlan
    {
        private static readonly ConditionalWeakTable<IEntityType, InsertPlan> Plans = [];
        private static readonly ConditionalWeakTable<IEntityType, object> Ineligible = [];

        // Note: RelationalTypeMapping.CreateParameter asks a command for a new parameter and nothing else.
        private static readonly NpgsqlCommand ParameterFactory = new();

        private readonly IProperty[] _properties;
        private readonly RelationalTypeMapping[] _mappings;
        private readonly IProperty[] _generated;
        private readonly string _table;
        private readonly string _columns;
        private readonly string?[] _statements = new string?[MaxRowsPerBatch + 1];

        private InsertPlan(IEntityType entity, StoreObjectIdentifier table, ISqlGenerationHelper sql)
        {
            _properties = [.. entity.GetProperties()];
            _mappings = [.. _properties.Select(property => property.GetRelationalTypeMapping())];
            _generated = [.. _properties.Where(property => property.ValueGenerated != ValueGenerated.Never)];
            _table = sql.DelimitIdentifier(table.Name, table.Schema);
            _columns = string.Join(", ", _properties.Select(property => sql.DelimitIdentifier(property.GetColumnName(table)!)));
            Depth = DepthOf(entity, []);
        }

        /// <summary>How many tables this one's rows point to, transitively: referenced rows are inserted first.</summary>
        public int Depth { get; }

        public static InsertPlan? For(IEntityType entity, DbContext db) =>
            Plans.TryGetValue(entity, out var plan) ? plan : Ineligible.TryGetValue(entity, out _) ? null : Build(entity, db);

        private static InsertPlan? Build(IEntityType entity, DbContext db)
        {
            var plan = IsEligible(entity, out var table) ? new InsertPlan(entity, table, db.GetService<ISqlGenerationHelper>()) : null;
            if (plan is null)
            {
                Ineligible.AddOrUpdate(entity, entity);
            }
            else
            {
                Plans.AddOrUpdate(entity, plan);
            }

            return plan;
        }

        // Note: only plain tables whose every column gets its value from the entity: a value the database generates
        // (an identity, a default, a row version) would have to be read back, which SaveChanges does.
        private static bool IsEligible(IEntityType entity, out StoreObjectIdentifier table)
        {
            table = default;
            if (entity.GetTableName() is not { } name || entity.BaseType is not null || entity.GetDirectlyDerivedTypes().Any()
                || entity.IsOwned() || entity.GetNavigations().Any(navigation => navigation.TargetEntityType.IsOwned()))
            {
                return false;
            }

            table = StoreObjectIdentifier.Table(name, entity.GetSchema());
            var mapped = table;
            return entity.GetProperties().All(property =>
                property.GetColumnName(mapped) is not null
                && (property.ValueGenerated == ValueGenerated.Never
                    || (property.IsPrimaryKey() && property.ValueGenerated == ValueGenerated.OnAdd
                        && (property.ClrType == typeof(string) || property.ClrType == typeof(Guid)))));
        }

        private static int DepthOf(IEntityType entity, HashSet<IEntityType> seen)
        {
            if (!seen.Add(entity))
            {
                return 0;
            }

            var depth = 0;
            foreach (var key in entity.GetForeignKeys())
            {
                if (key.PrincipalEntityType != entity)
                {
                    depth = Math.Max(depth, 1 + DepthOf(key.PrincipalEntityType, seen));
                }
            }

            seen.Remove(entity);
            return depth;
        }

        /// <summary>The row's values as they stand; null when a generated key still holds a temporary value.</summary>
        public object?[]? Snapshot(EntityEntry entry)
        {
            foreach (var property in _generated)
            {
                if (entry.Property(property).IsTemporary)
                {
                    return null;
                }
            }

            var current = entry.CurrentValues;
            var values = new object?[_properties.Length];
            for (var index = 0; index < values.Length; index++)
            {
                values[index] = current[_properties[index]];
            }

            return values;
        }

        public string Statement(int rows) => _statements[rows] ??= BuildStatement(rows);

        private string BuildStatement(int rows)
        {
            var text = new System.Text.StringBuilder("INSERT INTO ").Append(_table).Append(" (").Append(_columns).Append(") VALUES ");
            var parameter = 1;
            for (var row = 0; row < rows; row++)
            {
                text.Append(row == 0 ? "(" : ", (");
                for (var column = 0; column < _properties.Length; column++)
                {
                    text.Append(column == 0 ? "$" : ", $").Append(parameter++);
                }

                text.Append(')');
            }

            return text.ToString();
        }

        // Note: the parameters are positional ($1, $2, ...), made by each column's type mapping as SaveChanges makes
        // them; no value is ever part of the statement's text.
        public void AddParameters(NpgsqlParameterCollection parameters, object?[] values)
        {
            for (var index = 0; index < values.Length; index++)
            {
                parameters.Add((NpgsqlParameter)_mappings[index].CreateParameter(ParameterFactory, string.Empty, values[index], _properties[index].IsNullable));
            }
        }
    }
}
