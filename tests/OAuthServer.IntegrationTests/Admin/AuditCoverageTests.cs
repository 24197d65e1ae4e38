using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Admin;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// Threat model 3.3: every admin endpoint that changes something declares the audit action its changes are
/// recorded under, and the actions share the security events' vocabulary.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class AuditCoverageTests(OAuthServerFactory server)
{
    [Fact]
    public void Every_admin_endpoint_that_changes_state_declares_an_audit_action()
    {
        var endpoints = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(endpoint => endpoint.RoutePattern.RawText?.StartsWith("/admin", StringComparison.OrdinalIgnoreCase) == true)
            .ToList();
        var changing = endpoints
            .Where(endpoint => endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods.Any(method => !AuditedEndpoints.IsReadOnly(method)) ?? true)
            .ToList();

        changing.Should().HaveCountGreaterThanOrEqualTo(11, "the admin API has at least eleven changing endpoints today");
        changing.Should().OnlyContain(endpoint => endpoint.Metadata.GetMetadata<AuditedAction>() != null,
            "an endpoint that changes state without an audit action would make unaudited changes");
        endpoints.Where(endpoint => endpoint.Metadata.GetMetadata<AuditedAction>() != null)
            .Should().OnlyContain(endpoint => !endpoint.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.All(AuditedEndpoints.IsReadOnly),
                "a read is not a change");
    }

    [Fact]
    public void Audit_actions_that_name_a_security_event_use_its_name()
    {
        var eventTypes = typeof(SecurityEventTypes).GetFields().Select(field => (string)field.GetRawConstantValue()!).ToHashSet();
        var actions = typeof(AuditActions).GetFields().Select(field => (string)field.GetRawConstantValue()!).ToList();

        actions.Where(action => !eventTypes.Contains(action)).Should().BeEquivalentTo(
            [AuditActions.UsersSignedOutAll, AuditActions.TokensRevokedAll], "only the bulk changes have no event of their own");
    }
}
