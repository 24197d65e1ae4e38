using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using OAuthServer.Accounts;

namespace OAuthServer.Data;

/// <summary>
/// The one database of the server: our own entities, OpenIddict's applications, authorizations, scopes and
/// tokens, and the ASP.NET Data Protection key ring (shared by every node, so cookies and antiforgery tokens
/// survive a load balancer). Each provider has a derived context that owns its own migrations.
/// </summary>
internal abstract class OAuthDbContext(DbContextOptions options) : DbContext(options), IDataProtectionKeyContext
{
    public DbSet<User> Users => Set<User>();

    public DbSet<LoginDevice> LoginDevices => Set<LoginDevice>();

    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    public DbSet<Events.SecurityEvent> SecurityEvents => Set<Events.SecurityEvent>();

    public DbSet<Admin.AuditEntry> AuditLog => Set<Admin.AuditEntry>();

    public DbSet<Protocol.SingleUse.SpentId> SpentIds => Set<Protocol.SingleUse.SpentId>();

    /// <summary>
    /// Who the unit of work this context serves acts for (<see cref="Admin.AuditingInterceptor"/>): the scope's own,
    /// set each time the context is leased from the pool; a context made by hand audits nothing.
    /// </summary>
    internal Admin.AuditScope Audit { get; set; } = new();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.UseOpenIddict();
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(OAuthDbContext).Assembly);
    }

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Note: every timestamp is UTC. PostgreSQL stores DateTime as timestamptz; SQLite stores text, and
        // this converter makes sure what is read back is marked UTC rather than Unspecified.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<NullableUtcDateTimeConverter>();
    }

    private sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
        value => value.ToUniversalTime(),
        value => DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private sealed class NullableUtcDateTimeConverter() : ValueConverter<DateTime?, DateTime?>(
        value => value.HasValue ? value.Value.ToUniversalTime() : null,
        value => value.HasValue ? DateTime.SpecifyKind(value.Value, DateTimeKind.Utc) : null);
}

/// <summary>The SQLite flavour: the embedded default, a file under <c>data/</c>.</summary>
internal sealed class SqliteOAuthDbContext(DbContextOptions<SqliteOAuthDbContext> options) : OAuthDbContext(options);

/// <summary>The PostgreSQL flavour: the production store.</summary>
internal sealed class PostgresOAuthDbContext(DbContextOptions<PostgresOAuthDbContext> options) : OAuthDbContext(options);
