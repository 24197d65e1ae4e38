using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace OAuthServer.Data;

// Used only by `dotnet ef migrations add`: each provider's migrations are generated from its own context.
// The connection strings are placeholders; generating a migration never connects.
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteOAuthDbContext>
{
    public SqliteOAuthDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteOAuthDbContext>().UseSqlite("Data Source=design.db").UseOpenIddict().Options);
}

internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresOAuthDbContext>
{
    public PostgresOAuthDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresOAuthDbContext>().UseNpgsql("Host=localhost;Database=design").UseOpenIddict().Options);
}
