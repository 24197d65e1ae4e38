using Microsoft.AspNetCore.Http.HttpResults;

namespace OAuthServer.Admin;

/// <summary>The one place a refused domain <see cref="Outcome"/> becomes the admin API's ProblemDetails.</summary>
internal static class ProblemResults
{
    /// <summary>
    /// 400 with the failed rules grouped by request field (the title names the first rule's code, so a client can
    /// tell which rule failed without parsing words); 404 and 409 with the problem's words as the detail.
    /// </summary>
    public static ProblemHttpResult ToProblem(this Outcome outcome)
    {
        var first = outcome.Problem;
        return first.Kind switch
        {
            ProblemKind.NotFound => TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not Found", detail: first.Message),
            ProblemKind.Conflict => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: first.Message),
            _ => TypedResults.Problem(new HttpValidationProblemDetails(outcome.Problems
                .GroupBy(problem => problem.Field ?? string.Empty)
                .ToDictionary(group => group.Key, group => group.Select(problem => problem.Message).ToArray()))
            {
                Status = StatusCodes.Status400BadRequest,
                Title = first.Code,
            }),
        };
    }
}
