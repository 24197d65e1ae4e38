using System.Globalization;
using System.Text;
using QRCoder;

namespace OAuthServer.Accounts.Factors;

/// <summary>
/// The enrolment QR code as inline SVG: one path of dark modules, no style attribute, no script and no data: URL,
/// so the page's content security policy (style-src 'self', img-src without data:) needs no exception.
/// </summary>
internal static class TotpQrCode
{
    public static string Svg(string text, string label)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(text, QRCodeGenerator.ECCLevel.M);
        var matrix = data.ModuleMatrix;
        var size = matrix.Count;
        var path = new StringBuilder();
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                if (matrix[y][x])
                {
                    path.Append(CultureInfo.InvariantCulture, $"M{x} {y}h1v1h-1z");
                }
            }
        }

        // Note: the quiet zone (part of the matrix) is white, so the code scans on a dark theme too.
        return string.Create(CultureInfo.InvariantCulture,
            $"<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"{size * 5}\" height=\"{size * 5}\" role=\"img\" aria-label=\"{Html.HtmlPage.Encode(label)}\" shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>");
    }
}
