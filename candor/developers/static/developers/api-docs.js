// Starts Swagger UI (served by Candor from django-ninja's bundled copy) on the API's own schema.
// Kept in a file rather than inline so the page's Content-Security-Policy needs no 'unsafe-inline' script.
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("swagger-settings").textContent);
  var csrf = settings.csrf;
  SwaggerUIBundle({
    url: settings.url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: function (request) {
      if (csrf) { request.headers["X-CSRFToken"] = csrf; }
      return request;
    }
  });
})();
