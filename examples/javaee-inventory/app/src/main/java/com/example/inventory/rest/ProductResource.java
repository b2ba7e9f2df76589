package com.example.inventory.rest;

import java.time.Clock;
import java.util.List;

import javax.inject.Inject;
import javax.ws.rs.*;

import com.example.inventory.model.Product;
import com.example.inventory.service.InventoryService;
import com.example.inventory.service.ProductNotFoundException;

@Path("/products")
@Produces("application/json")
public class ProductResource {

    @Inject
    InventoryService inventory;

    @Inject
    Clock clock;

    @GET
    public List<Product> list() {
        return inventory.findAll();
    }

    @GET
    @Path("/{sku}")
    public Product get(@PathParam("sku") String sku) {
        try {
            return inventory.findBySku(sku);
        } catch (ProductNotFoundException e) {
            throw new NotFoundException(e.getMessage());
        }
    }

    @POST
    @Path("/{sku}/adjustments")
    @Consumes("application/json")
    public Product adjust(@PathParam("sku") String sku, StockAdjustment adjustment) {
        try {
            return inventory.adjustStock(sku, adjustment.getDelta(), clock.instant());
        } catch (ProductNotFoundException e) {
            throw new NotFoundException(e.getMessage());
        }
    }
}
