using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OAuthServer.Data.Migrations.Postgres
{
    /// <summary>
    /// Token rows stay in the table's own pages up to a full page instead of PostgreSQL's default of ~2 KB.
    /// </summary>
    /// <remarks>
    /// Note: a refresh token row is just over 2 KB (its sealed payload is ~1.8 KB), so by default PostgreSQL tried to
    /// compress every one (a sealed token doesn't compress) and moved its payload into the TOAST table: each refresh
    /// wrote a TOAST row and its index entry and read them back on its next use (~10 % of PostgreSQL's CPU in the
    /// refresh profile, issue 15). The storage parameter only changes where a row's bytes go; no row changes and the
    /// model is untouched, so no model snapshot goes with this migration. Rows already written keep their layout.
    /// </remarks>
    [DbContext(typeof(PostgresOAuthDbContext))]
    [Migration("20261204030000_TokenRowsInline")]
    public partial class TokenRowsInline : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""ALTER TABLE "OpenIddictTokens" SET (toast_tuple_target = 8160);""");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""ALTER TABLE "OpenIddictTokens" RESET (toast_tuple_target);""");
        }
    }
}
