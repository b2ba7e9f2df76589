package com.acme.shop.rest;

import java.util.List;

import javax.enterprise.context.RequestScoped;
import javax.inject.Inject;
import javax.ws.rs.DELETE;
import javax.ws.rs.GET;
import javax.ws.rs.POST;
import javax.ws.rs.Path;
import javax.ws.rs.PathParam;
import javax.ws.rs.Produces;
import javax.ws.rs.core.MediaType;
import javax.ws.rs.core.Response;

/**
 * Catalog endpoints. Every method answers JSON.
 */
@Path("/catalog")
@RequestScoped
@Produces(MediaType.APPLICATION_JSON)
public class CatalogResource {

    @Inject
    CatalogService service;

    @GET
    public List<Item> list() {
        return service.findAll();
    }

    @GET
    @Path("{id}")
    public Response get(@PathParam("id") long id) {
        Item item = service.find(id);
        if (item == null) {
            return Response.status(Response.Status.NOT_FOUND).build();
        }
        return Response.ok(item).build();
    }

    @POST
    public Response create(Item item) {
        service.save(item);
        return Response.ok(item).build();
    }

    @DELETE
    @Path("{id}")
    public Response delete(@PathParam("id") long id) {
        Item item = service.find(id);
        if (item == null) {
            return Response.status(Response.Status.NOT_FOUND).build();
        }
        service.remove(item);
        return Response.noContent().build();
    }
}
