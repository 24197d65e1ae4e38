using System.ComponentModel.DataAnnotations;

namespace OAuthServer.Data;

internal enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

/// <summary>The <c>Database</c> section. The connection string itself is <c>ConnectionStrings:OAuthServer</c>.</summary>
internal sealed class DatabaseOptions
{
    public const string Section = "Database";

    [EnumDataType(typeof(DatabaseProvider))]
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>Apply pending migrations at start-up. Only ever honoured in Development.</summary>
    public bool MigrateOnStartup { get; set; } = true;
}
